// Refreshes the servers' table from /status every 2 s, colours each server of the picture by
// its state, and lets each server be drained, put in maintenance or made ready again
// (POST /pools/POOL/servers/SERVER). Nothing is fetched from anywhere but this admin listener.
"use strict";
(function () {
  const rows = document.getElementById("server-rows");
  const refreshed = document.getElementById("refreshed");
  const text = (value) => document.createTextNode(value === null || value === undefined ? "" : String(value));
  const cell = (row, value, name) => {
    const td = document.createElement("td");
    if (name) td.className = name;
    td.appendChild(text(value));
    row.appendChild(td);
  };
  const stateOf = (server) =>
    server.state !== "ready" ? server.state : !server.up ? "down" : server.backup ? "backup" : "up";
  async function steer(pool, server, state) {
    const path = "/pools/" + encodeURIComponent(pool) + "/servers/" + encodeURIComponent(server);
    const answer = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ state: state }),
      credentials: "same-origin",
    });
    if (!answer.ok) refreshed.textContent = path + ": " + (await answer.text());
    await refresh();
  }
  const buttons = (row, pool, server) => {
    const td = document.createElement("td");
    td.className = "steer";
    for (const state of ["drain", "maintenance", "ready"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = state;
      button.dataset.state = state;
      button.addEventListener("click", () => steer(pool, server, state));
      td.appendChild(button);
    }
    row.appendChild(td);
  };
  function show(status) {
    const body = document.createDocumentFragment();
    const states = new Map();
    for (const pool of status.pools) {
      for (const server of pool.servers) {
        const state = stateOf(server);
        const row = document.createElement("tr");
        row.className = state;
        cell(row, pool.pool);
        cell(row, server.host ? server.host + " (" + server.server + ")" : server.server);
        cell(row, state, "state");
        cell(row, server.weight);
        cell(row, server.active_requests);
        cell(row, server.requests);
        cell(row, Object.values(server.errors).reduce((a, b) => a + b, 0));
        cell(row, server.last_error ? server.last_error.error : "");
        buttons(row, pool.pool, server.server);
        body.appendChild(row);
        // A server found by a name is drawn under that name; its addresses share its colour,
        // any state but up winning.
        for (const address of [server.server, server.host]) {
          if (!address) continue;
          const key = pool.pool + " " + address;
          if (!states.has(key) || state !== "up") states.set(key, state);
        }
      }
    }
    rows.replaceChildren(body);
    for (const node of document.querySelectorAll("g.server")) {
      const state = states.get(node.dataset.pool + " " + node.dataset.address);
      node.classList.remove(
        "state-up", "state-down", "state-backup", "state-drain", "state-maintenance");
      if (state) node.classList.add("state-" + state);
    }
    refreshed.textContent = "Refreshed " + new Date().toLocaleTimeString() + ", every 2 s.";
  }
  async function refresh() {
    try {
      const answer = await fetch("/status", { cache: "no-store", credentials: "same-origin" });
      if (answer.ok) show(await answer.json());
      else refreshed.textContent = "/status answered " + answer.status + "; retrying.";
    } catch (error) {
      refreshed.textContent = "The proxy does not answer; retrying.";
    }
  }
  refresh();
  setInterval(refresh, 2000);
})();
