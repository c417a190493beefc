-- supervision.lua: the read-only supervision view (routing/supervision.py). Loaded on
-- its own after the generated key prelude (routing/keys.py), never with the routing
-- library: it writes nothing. Two operations, each short so Redis is never blocked long:
--
-- KEYS[1]  timers zset of the tenant (K.timers()), declared for Redis Cluster routing
-- ARGV[1]  key prefix "acd:{<tenant>}:"
-- ARGV[2]  'agents': ARGV[3] SSCAN cursor of the agents set, ARGV[4] SSCAN COUNT hint.
--          Reply {next cursor, {{id, presence, pause reason or nil, wrap_until or nil,
--          idle_since, {queue, ...}, assigned contacts, voice load}, ...}}
--          'queues': reply flat {queue, unanswered, oldest arrival or nil, ...} for every
--          queue of the tenant's queue set and every home queue of an unanswered contact.
-- Times go out as %.17g text: a Lua number in a reply is truncated to an integer, and
-- 17 significant digits read back as the same double.

local function num(value)
  if value == nil then return false end
  return string.format('%.17g', value)
end

local OP = ARGV[2]

if OP == 'agents' then
  local page = redis.call('SSCAN', K.agents(), ARGV[3], 'COUNT', ARGV[4])
  local rows = {}
  for _, id in ipairs(page[2]) do
    local raw = redis.call('GET', K.agent(id))
    if raw then
      local a = cmsgpack.unpack(raw)
      local assigned = 0
      if type(a.as) == 'table' then
        for _ in pairs(a.as) do assigned = assigned + 1 end
      end
      local voice = 0
      if type(a.ld) == 'table' and a.ld.voice ~= nil then voice = a.ld.voice end
      rows[#rows + 1] = {a.id, a.st, a.rs or false, num(a.wu), num(a.idle), a.qs or {},
                         assigned, voice}
    end
  end
  return {page[1], rows}
end

if OP ~= 'queues' then
  return redis.error_reply('routing-store: unknown supervision operation ' .. tostring(OP))
end

-- A caller waits until an agent answers: a contact is unanswered while 'waiting' or
-- 'reserved' (an offer still ringing). Only the few contacts the sorted sets cannot
-- place are decoded (docs/ROUTING.md "Records" gives the invariants used):
--   * a general waiting contact is in arr:{q} (score = its arrival) of every queue of
--     its list, whose first queue is its home queue: in one set only -> that is home;
--   * a reserved contact has an 'r|' timer; a restricted (private/sticky) waiting one an
--     'x|' timer; a busy contact has neither (confirm removes them).
local per = {}
local order = {}
local function entry(queue)
  local found = per[queue]
  if found == nil then
    found = {0, nil}
    per[queue] = found
    order[#order + 1] = queue
  end
  return found
end
local function count(queue, arrival)
  local found = entry(queue)
  found[1] = found[1] + 1
  if found[2] == nil or arrival < found[2] then found[2] = arrival end
end

local names = redis.call('SMEMBERS', K.queues())
local home = {}    -- contact id -> the queue of the first arr set seen, or false if several
local since = {}   -- contact id -> its arrival (the set's score, as text)
for _, queue in ipairs(names) do
  entry(queue)
  local rows = redis.call('ZRANGE', K.arrivals(queue), 0, -1, 'WITHSCORES')
  for i = 1, #rows, 2 do
    local id = rows[i]
    if home[id] == nil then
      home[id] = queue
      since[id] = rows[i + 1]
    else
      home[id] = false
    end
  end
end
local decoded = {}
for id, queue in pairs(home) do
  if queue then
    count(queue, tonumber(since[id]))
  else
    local c = cmsgpack.unpack(redis.call('GET', K.contact(id)))
    decoded[id] = true
    count(c.q, c.arr)
  end
end
local timers = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, member in ipairs(timers) do
  local kind = string.sub(member, 1, 2)
  if kind == 'r|' or kind == 'x|' then
    local id = string.sub(member, 3)
    if home[id] == nil and not decoded[id] then
      decoded[id] = true
      local raw = redis.call('GET', K.contact(id))
      if raw then
        local c = cmsgpack.unpack(raw)
        if c.st == 'waiting' or c.st == 'reserved' then count(c.q, c.arr) end
      end
    end
  end
end

local out = {}
for _, queue in ipairs(order) do
  local found = per[queue]
  out[#out + 1] = queue
  out[#out + 1] = found[1]
  out[#out + 1] = num(found[2])
end
return out
