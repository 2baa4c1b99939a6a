-- GCRA (virtual scheduling) for one key, atomically: takes up to `want` requests from the
-- bucket and says how far the key's theoretical arrival time (TAT) is ahead of now.
-- KEYS[1]: the key. ARGV: the emission interval T, the tolerance (burst - 1) * T, and `want`,
-- the first two in microseconds. The clock is the server's, so proxies' clocks do not matter.
-- Returns { granted, TAT - now } (microseconds, after the requests granted).
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
    tat = now
end
-- Request k (from 1) passes when tat + (k - 1) * interval - now <= tolerance.
local room = math.floor((tolerance - (tat - now)) / interval) + 1
local granted = math.max(0, math.min(want, room))
if granted > 0 then
    tat = tat + granted * interval
    -- The key is worth keeping only until its bucket is full again.
    redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1)
end
return { granted, tat - now }
