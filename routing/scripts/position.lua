-- position.lua: position, announced position and expected wait of a waiting contact
-- (R-POS, R-POSALL, R-EWT, R-AGENTS). E(C) = logged-in agents that match C ignoring
-- availability (passive agents left out); D competes with C when D waits and E(D) shares
-- an agent with E(C). Only contacts waiting in the queues of E(C)'s agents (and their
-- targeted sets) are read, never all contacts.
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] contact id
-- Errors: unknown-contact, invalid-transition (not waiting).
-- Returns msgpack [position, announced, ewt seconds, uncertain, available, staffed].

local contact = get_contact(ARGV[4])
if contact == nil then return redis.error_reply('unknown-contact: ' .. ARGV[4]) end
if contact.st ~= 'waiting' then
  return redis.error_reply('invalid-transition: contact ' .. contact.id .. ' is not waiting')
end
local cls = CLASS[contact.ch]

local serving = {}
if contact.rk ~= nil then
  local agent = get_agent(contact.tg)
  if agent ~= nil and agent.st ~= 'logged_out' and takes(agent, cls)
      and (contact.rk == 'private' or match_general(agent, contact)) then
    serving[1] = agent
  end
else
  local seen = {}
  for _, queue in ipairs(contact.qs) do
    for _, id in ipairs(redis.call('ZRANGE', K.members(queue), 0, -1)) do
      if not seen[id] then
        seen[id] = true
        local agent = get_agent(id)
        if not agent.pv and takes(agent, cls) and match_general(agent, contact) then
          serving[#serving + 1] = agent
        end
      end
    end
  end
end

-- Ids in the set whose (score, id) sorts before the contact's.
local function ahead_in(key)
  local ids = {}
  local rows = redis.call('ZRANGEBYSCORE', key, '-inf', contact.sc, 'WITHSCORES')
  for i = 1, #rows, 2 do
    local id, score = rows[i], tonumber(rows[i + 1])
    if id ~= contact.id and (score < contact.sc or str_lt(id, contact.id)) then
      ids[#ids + 1] = id
    end
  end
  return ids
end

local position = 1
local counted = {}
local function count(id)
  if counted[id] then return false end
  counted[id] = true
  return true
end

if #serving == 0 then
  -- Nobody can serve C: count what is ahead in C's own line.
  if contact.rk ~= nil then
    position = position + #ahead_in(K.targeted(contact.tg))
  else
    for _, queue in ipairs(contact.qs) do
      for _, id in ipairs(ahead_in(K.queued(queue))) do
        if count(id) then position = position + 1 end
      end
    end
  end
else
  local by_queue, queues = {}, {}
  for _, agent in ipairs(serving) do
    for _, queue in ipairs(agent.qs) do
      if by_queue[queue] == nil then
        by_queue[queue] = {}
        queues[#queues + 1] = queue
      end
      table.insert(by_queue[queue], agent)
    end
  end
  local function competes(other)
    local other_cls = CLASS[other.ch]
    for _, queue in ipairs(other.qs) do
      for _, agent in ipairs(by_queue[queue] or {}) do
        if not agent.pv and takes(agent, other_cls) and match_general(agent, other) then
          return true
        end
      end
    end
    return false
  end
  for _, queue in ipairs(queues) do
    for _, id in ipairs(ahead_in(K.queued(queue))) do
      if count(id) and competes(get_contact(id)) then position = position + 1 end
    end
  end
  for _, agent in ipairs(serving) do
    for _, id in ipairs(ahead_in(K.targeted(agent.id))) do
      if count(id) then
        local other = get_contact(id)
        if takes(agent, CLASS[other.ch])
            and (other.rk == 'private' or match_general(agent, other)) then
          position = position + 1
        end
      end
    end
  end
end

if contact.an == 0 then
  contact.an = position
else
  contact.an = math.min(contact.an, position)
end
save_contact(contact)

local cfg = get_queue(contact.q)
local count_, mean, m2 = 0, 0, 0
local raw = redis.call('GET', K.stats(contact.q))
if raw then
  local stats = cmsgpack.unpack(raw)
  count_, mean, m2 = stats[1], stats[2], stats[3]
end
local staffed, free = 0, 0
for _, agent in ipairs(serving) do
  if agent.st ~= 'paused' then staffed = staffed + 1 end
  if avail(agent, cls) then free = free + 1 end
end
local aht = cfg.aht
if count_ >= cfg.ms then aht = mean end
local ewt = position * aht / math.max(staffed, 1)
local cv = 0
if count_ >= 2 and mean > 0 then cv = math.sqrt(m2 / (count_ - 1)) / mean end
local uncertain = staffed == 0 or count_ < cfg.ms or cv > cfg.cv or ewt > cfg.mewt
return done({position, contact.an, ewt, uncertain, free, staffed})
