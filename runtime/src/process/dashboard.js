// Refreshes the servers' table from /status (with each server's mean answer time from /stats)
// and the listeners', routes' and caches' from /stats every 2 s, colours each server of the picture by its state, draws the last minutes of
// each listener, route, server and cache as a sparkline, shows each server's last health
// change, and lets each server be drained, put in maintenance, made ready again or given another
// weight (POST /pools/POOL/servers/SERVER). While a weight is being typed, the servers' table
// is left as it is. Nothing is fetched from anywhere but this admin listener.
"use strict";
(function () {
  const rows = document.getElementById("server-rows");
  const routeRows = document.getElementById("route-rows");
  const listenerRows = document.getElementById("listener-rows");
  const cacheRows = document.getElementById("cache-rows");
  // The last /stats, by server ("POOL ADDRESS"), for the servers' table.
  let serverFigures = new Map();
  const SVG = "http://www.w3.org/2000/svg";
  // A mean time in milliseconds, as "0.4 ms" or "12 ms".
  const millis = (value) =>
    value === null || value === undefined ? "" : (value < 10 ? value.toFixed(1) : Math.round(value)) + " ms";
  const seconds = (value) =>
    value === null || value === undefined ? "" : value < 1 ? Math.round(value * 1000) + " ms" : value + " s";
  // A polyline of `values` (requests per interval), scaled to its largest.
  function sparkline(values) {
    const svg = document.createElementNS(SVG, "svg");
    const width = 120;
    const height = 24;
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("class", "sparkline");
    const top = Math.max(1, ...values);
    const step = values.length > 1 ? width / (values.length - 1) : width;
    const points = values.map((v, i) => (i * step).toFixed(1) + "," + (height - 1 - (v / top) * (height - 2)).toFixed(1));
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#2563eb");
    svg.appendChild(line);
    return svg;
  }
  const spark = (row, values) => {
    const td = document.createElement("td");
    td.appendChild(sparkline(values));
    row.appendChild(td);
  };
  const percent = (ratio) => (ratio === null || ratio === undefined ? "" : (100 * ratio).toFixed(1) + " %");
  // Replaces the rows of `body` with one per item, named by `data-KEY` (the item's `name`
  // field) and filled in by `fill(row, item)`.
  function fillRows(body, items, key, name, fill) {
    const rows = document.createDocumentFragment();
    for (const item of items) {
      const row = document.createElement("tr");
      row.dataset[key] = item[name];
      fill(row, item);
      rows.appendChild(row);
    }
    body.replaceChildren(rows);
  }
  function showStats(stats) {
    fillRows(routeRows, stats.routes, "route", "route", (row, route) => {
      cell(row, route.listener);
      cell(row, route.route);
      cell(row, route.requests);
      for (const c of ["2xx", "3xx", "4xx", "5xx"]) cell(row, route.classes[c]);
      cell(row, [route.refusals["401"], route.refusals["403"], route.refusals["429"]].join(" "));
      cell(row, route.rate.toFixed(1));
      const latency = route.latency || {};
      cell(row, seconds(latency.p50));
      cell(row, seconds(latency.p95));
      cell(row, seconds(latency.p99));
      spark(row, route.history.requests);
    });
    fillRows(listenerRows, stats.listeners, "listener", "listener", (row, listener) => {
      cell(row, listener.listener);
      cell(row, listener.connections_open);
      cell(row, listener.connections);
      cell(row, listener.connection_rate.toFixed(1));
      cell(row, listener.requests);
      cell(row, listener.request_rate.toFixed(1));
      spark(row, listener.history.requests);
    });
    if (cacheRows) {
      fillRows(cacheRows, stats.caches, "cache", "policy", (row, cache) => {
        cell(row, cache.policy);
        cell(row, percent(cache.hit_ratio));
        cell(row, percent(cache.recent_hit_ratio));
        cell(row, cache.entries);
        cell(row, cache.bytes);
        spark(row, cache.history.hits);
      });
    }
    serverFigures = new Map(stats.servers.map((server) => [server.pool + " " + server.server, server]));
  }
  // A server's last health change, as "down at 12:01:02 (3 changes)".
  const lastChange = (figures) => {
    const changes = figures ? figures.health_changes : [];
    if (changes.length === 0) return "";
    const last = changes[changes.length - 1];
    const at = new Date(last.at).toLocaleTimeString();
    return (last.up ? "up" : "down") + " at " + at + (changes.length > 1 ? " (" + changes.length + " changes)" : "");
  };
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
  // Why the last change asked for was refused, above the servers' table until the next one.
  const notice = document.createElement("p");
  notice.className = "notice";
  notice.setAttribute("role", "alert");
  rows.closest("table").before(notice);
  // Sends `change` ({state: ...} or {weight: ...}) for a server; a refusal is shown.
  async function steer(pool, server, change) {
    const path = "/pools/" + encodeURIComponent(pool) + "/servers/" + encodeURIComponent(server);
    const asked = change.state !== undefined ? change.state : "weight " + change.weight;
    notice.textContent = "";
    try {
      const answer = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(change),
        credentials: "same-origin",
      });
      if (!answer.ok) notice.textContent = asked + " " + server + ": " + (await answer.text());
    } catch (error) {
      notice.textContent = asked + " " + server + ": the proxy does not answer.";
    }
    await refresh(true);
  }
  const controls = (row, pool, server) => {
    const td = document.createElement("td");
    td.className = "steer";
    for (const state of ["drain", "maintenance", "ready"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = state;
      button.dataset.state = state;
      button.addEventListener("click", () => steer(pool, server, { state: state }));
      td.appendChild(button);
    }
    const field = document.createElement("input");
    field.type = "number";
    field.min = "1";
    field.max = "1000000";
    field.step = "1";
    field.placeholder = "weight";
    field.setAttribute("aria-label", "weight of " + server);
    const set = document.createElement("button");
    set.type = "button";
    set.textContent = "set weight";
    const weigh = () => {
      // Sent as typed: the proxy names what is wrong with a weight it refuses.
      const weight = field.value.trim() === "" ? null : Number(field.value);
      if (weight !== null) steer(pool, server, { weight: weight });
    };
    set.addEventListener("click", weigh);
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter") weigh();
    });
    // The field and its button wrap as one, below the state buttons on a narrow window.
    const weighing = document.createElement("span");
    weighing.className = "weigh";
    weighing.append(field, set);
    td.appendChild(weighing);
    row.appendChild(td);
  };
  // Whether a weight is being typed in the servers' table.
  const typing = () => rows.contains(document.activeElement) && document.activeElement.tagName === "INPUT";
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
        cell(row, server.weight, "weight");
        if (server.configured_weight !== null && server.configured_weight !== undefined) {
          const configured = document.createElement("span");
          configured.className = "configured";
          configured.textContent = "(config " + server.configured_weight + ")";
          row.lastChild.append(" ", configured);
        }
        cell(row, server.active_requests);
        cell(row, server.requests);
        cell(row, Object.values(server.errors).reduce((a, b) => a + b, 0));
        const figures = serverFigures.get(pool.pool + " " + server.server);
        const response = figures ? figures.history.response_ms.at(-1) : null;
        cell(row, millis(response), "response");
        cell(row, server.last_error ? server.last_error.error : "");
        spark(row, figures ? figures.history.requests : []);
        cell(row, lastChange(figures), "health");
        controls(row, pool.pool, server.server);
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
  // `changed`: after a change of this page's, when the table is drawn again whatever has focus.
  async function refresh(changed) {
    try {
      const ask = (path) => fetch(path, { cache: "no-store", credentials: "same-origin" });
      const [status, stats] = await Promise.all([ask("/status"), ask("/stats")]);
      if (stats.ok) showStats(await stats.json());
      if (status.ok) {
        const servers = await status.json();
        if (changed || !typing()) show(servers);
      }
      else refreshed.textContent = "/status answered " + status.status + "; retrying.";
    } catch (error) {
      refreshed.textContent = "The proxy does not answer; retrying.";
    }
  }
  refresh(false);
  setInterval(() => refresh(false), 2000);
})();
