-- supervision.lua: the read-only supervision view (routing/supervision.py). Loaded on
-- its own after the generated key prelude (routing/keys.py), never with the routing
-- library: it writes nothing. Two operations, each short so Redis is never blocked long:
--
-- KEYS[1]  timers zset of the tenant (K.timers()), declared for Redis Cluster routing
-- ARGV[1]  key prefix "acd:{<tenant>}:"
-- ARGV[2]  'agents': ARGV[3] SSCAN cursor of the agents set, ARGV[4] SSCAN COUNT hint.
--          Reply {next cursor, msgpack [[id, presence, pause reason or nil, wrap_until
--          or nil, idle_since, [queue, ...], [assigned contact id, ...], voice load],
--          ...]}
--          'queues': reply msgpack [queue, unanswered, oldest arrival or nil, ringing,
--          ...] for every queue of the tenant's queue set and every home queue of an
--          unanswered contact (ringing: of the unanswered, those 'reserved').
--          'waiting': ARGV[3] a queue. Reply msgpack [contact record, ...]: the raw
--          records of the contacts waiting in that queue, general (queued:<q>) and
--          restricted to one agent (an 'x|' timer) with the queue in their list; any
--          order (the reader sorts them by score, id).
-- Rows go out as one msgpack string: a Lua number in a reply would be truncated to an
-- integer, and one string costs the engine one C decode instead of an object per field.
-- nil inside a row is written as false (a Lua table cannot hold nil) and read as None.

local function opt(value)
  if value == nil then return false end
  return value
end

local OP = ARGV[2]

if OP == 'agents' then
  local page = redis.call('SSCAN', K.agents(), ARGV[3], 'COUNT', ARGV[4])
  local rows = {}
  for _, id in ipairs(page[2]) do
    local raw = redis.call('GET', K.agent(id))
    if raw then
      local a = cmsgpack.unpack(raw)
      local assigned = {}
      if type(a.as) == 'table' then
        for contact in pairs(a.as) do assigned[#assigned + 1] = contact end
      end
      local voice = 0
      if type(a.ld) == 'table' and a.ld.voice ~= nil then voice = a.ld.voice end
      rows[#rows + 1] = {a.id, a.st, opt(a.rs), opt(a.wu), a.idle, a.qs or {}, assigned, voice}
    end
  end
  return {page[1], cmsgpack.pack(rows)}
end

if OP == 'waiting' then
  local rows = {}
  for _, id in ipairs(redis.call('ZRANGE', K.queued(ARGV[3]), 0, -1)) do
    rows[#rows + 1] = redis.call('GET', K.contact(id))
  end
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if string.sub(member, 1, 2) == 'x|' then
      local raw = redis.call('GET', K.contact(string.sub(member, 3)))
      if raw then
        local c = cmsgpack.unpack(raw)
        if c.st == 'waiting' and c.rk ~= nil then
          for _, queue in ipairs(c.qs) do
            if queue == ARGV[3] then rows[#rows + 1] = raw break end
          end
        end
      end
    end
  end
  return cmsgpack.pack(rows)
end

if OP ~= 'queues' then
  return redis.error_reply('routing-store: unknown supervision operation ' .. tostring(OP))
end

-- A caller waits until an agent answers: a contact is unanswered while 'waiting' or
-- 'reserved' (an offer still ringing). Only the few contacts the sorted sets cannot
-- place are decoded, by these invariants of the routing scripts (lib_rules.lua
-- join_queue/leave_waiting, lib_flow.lua reserve/detach, arrive.lua, confirm.lua):
--   * a general waiting contact is in arr:{q} (score = its arrival) of every queue of
--     its list, whose first queue is its home queue: in one set only -> that is home;
--   * a reserved contact has an 'r|' timer; a restricted (private/sticky) waiting one an
--     'x|' timer; a busy contact has neither (confirm removes them).
local per = {}
local order = {}
local function entry(queue)
  local found = per[queue]
  if found == nil then
    found = {0, nil, 0}
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
local home = {}    -- contact id -> the queue of the only arr set holding it, or false
for _, queue in ipairs(names) do
  entry(queue)
  -- Ids only: a reply element costs Redis a conversion into Lua; the arrival is read
  -- below for the one contact per queue that can be its oldest.
  for _, id in ipairs(redis.call('ZRANGE', K.arrivals(queue), 0, -1)) do
    if home[id] == nil then home[id] = queue else home[id] = false end
  end
end
local decoded = {}
for id, queue in pairs(home) do
  if queue then
    per[queue][1] = per[queue][1] + 1
  else
    local c = cmsgpack.unpack(redis.call('GET', K.contact(id)))
    decoded[id] = true
    count(c.q, c.arr)
  end
end
-- The oldest single-queue contact of a queue is the first of its arr set held by no
-- other set (the set is ordered by arrival).
for _, queue in ipairs(names) do
  local at = 0
  while true do
    local head = redis.call('ZRANGE', K.arrivals(queue), at, at, 'WITHSCORES')
    if #head == 0 then break end
    if home[head[1]] then
      local found, arrival = per[queue], tonumber(head[2])
      if found[2] == nil or arrival < found[2] then found[2] = arrival end
      break
    end
    at = at + 1
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
        if c.st == 'reserved' then per[c.q][3] = per[c.q][3] + 1 end
      end
    end
  end
end

local out = {}
for _, queue in ipairs(order) do
  local found = per[queue]
  out[#out + 1] = queue
  out[#out + 1] = found[1]
  out[#out + 1] = opt(found[2])
  out[#out + 1] = found[3]
end
return cmsgpack.pack(out)
