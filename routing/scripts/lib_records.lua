-- lib_records.lua: shared by every routing operation, concatenated after the generated key
-- prelude (routing/keys.py) and before lib_rules.lua, lib_flow.lua and the operations
-- (one script in all: routing/store.py, script_source).
--
-- Every script gets the same anchor slots:
--   KEYS[1]  timers zset of the tenant (K.timers())
--   KEYS[2]  log stream of the tenant  (K.log())
--   ARGV[1]  key prefix "acd:{<tenant>}:" (used by the K.* builders)
--   ARGV[2]  now, epoch seconds as a decimal string (never read from the server clock)
--   ARGV[3]  approximate maximum length of the log stream
--   ARGV[4]  the operation's name; the dispatcher (routing/store.py) removes it, so each
--            operation file numbers its own slots from ARGV[4]
-- Numbers go to Redis as Lua numbers (Redis formats them with %.17g, exact); strings are
-- never compared with '<' because Lua follows the server's locale there (see str_lt).

local NOW = tonumber(ARGV[2])
local NOW_TEXT = ARGV[2]
-- The moment this call's state changes are dated: now, except while tick runs a timer,
-- when it is that timer's due time (docs/ROUTING.md, "Late ticks"). Offers are always
-- made, dated and timed from NOW.
local AT, AT_TEXT = NOW, NOW_TEXT
local LOG_MAXLEN = tonumber(ARGV[3])
local TIMERS = KEYS[1]
local LOG = KEYS[2]
local PRIORITY_UNIT = 8796093022208 -- 2^43: arrival in ms stays below it
local MAX_PRIORITY = 1000
local FIRST_BATCH = 4 -- scans read a sorted set's head in growing batches
local MAX_BATCH = 64
local NO_ANSWER = 'no-answer'
local CLASS = {voice = 'voice', callback = 'voice', chat = 'chat', email = 'email'}
local CLASSES = {'voice', 'chat', 'email'}

local OUT = {}        -- reservations made by this call, in order
local AGENTS = {}     -- decoded records, shared by every function of this call
local CONTACTS = {}
local QUEUES = {}
-- Records are written once, at the end of the call (or before an agent index is read):
-- an agent that becomes free and at once takes a contact never touches its sorted sets.
local DIRTY_AGENTS = {}
local DIRTY_CONTACTS = {}
local INDEXED = {}    -- agent id -> the sorted-set entries Redis holds for it (key -> score)
local agent_index     -- defined in lib_rules.lua

-- Byte order, as Redis sorts members and Python compares ids.
local function str_lt(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local function in_list(list, item)
  for _, value in ipairs(list) do
    if value == item then return true end
  end
  return false
end

local function score_of(priority, arrival)
  return (MAX_PRIORITY - priority) * PRIORITY_UNIT + math.floor(arrival * 1000 + 0.5)
end

-- Records are read once per call and kept in the call's cache (written back at the end).
local function load_cached(cache, id, key)
  local record = cache[id]
  if record == nil then
    local raw = redis.call('GET', key)
    if not raw then return nil end
    record = cmsgpack.unpack(raw)
    cache[id] = record
  end
  return record
end

local function get_queue(name)
  return load_cached(QUEUES, name, K.queue(name))
end

local function get_agent(id)
  local cached = AGENTS[id] ~= nil
  local agent = load_cached(AGENTS, id, K.agent(id))
  if agent ~= nil and not cached then INDEXED[id] = agent_index(agent) end
  return agent
end

local function save_agent(agent)
  AGENTS[agent.id] = agent
  DIRTY_AGENTS[agent.id] = true
end

-- Write changed agents and bring their sorted sets in line, touching only differences.
local function flush_agents()
  for id, _ in pairs(DIRTY_AGENTS) do
    local agent = AGENTS[id]
    redis.call('SET', K.agent(id), cmsgpack.pack(agent))
    local before, after = INDEXED[id] or {}, agent_index(agent)
    for key, _ in pairs(before) do
      if after[key] == nil then redis.call('ZREM', key, id) end
    end
    for key, score in pairs(after) do
      if before[key] ~= score then redis.call('ZADD', key, score, id) end
    end
    INDEXED[id] = after
  end
  DIRTY_AGENTS = {}
end

local function get_contact(id)
  return load_cached(CONTACTS, id, K.contact(id))
end

local function save_contact(contact)
  CONTACTS[contact.id] = contact
  DIRTY_CONTACTS[contact.id] = true
end

local function flush_contacts()
  for id, _ in pairs(DIRTY_CONTACTS) do
    redis.call('SET', K.contact(id), cmsgpack.pack(CONTACTS[id]))
  end
  DIRTY_CONTACTS = {}
end

local function set_timer(member, due)
  redis.call('ZADD', TIMERS, due, member)
end

local function del_timer(member)
  redis.call('ZREM', TIMERS, member)
end

local function forget_contact(contact)
  redis.call('DEL', K.contact(contact.id))
  redis.call('SREM', K.contacts(), contact.id)
  if contact.st ~= 'busy' then -- confirm already removed a busy contact's timers
    redis.call('ZREM', TIMERS, 'e|' .. contact.id, 'r|' .. contact.id, 'x|' .. contact.id)
  end
  CONTACTS[contact.id] = nil
  DIRTY_CONTACTS[contact.id] = nil
end

-- An entry dated AT, or `when` (a decimal string) if given.
local function log(kind, agent, contact, queue, when)
  redis.call('XADD', LOG, 'MAXLEN', '~', LOG_MAXLEN, '*',
    'k', kind, 'a', agent or '', 'c', contact or '', 'q', queue or '', 't', when or AT_TEXT)
end

local function pending_of(agent)
  local ids = {}
  for cid, state in pairs(agent.as) do
    if state == 'reserved' then ids[#ids + 1] = cid end
  end
  table.sort(ids, str_lt)
  return ids
end

local function done(result)
  flush_agents()
  flush_contacts()
  return cmsgpack.pack(result or OUT)
end
