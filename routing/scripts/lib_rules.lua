-- lib_rules.lua: eligibility and the sorted-set indexes (docs/ROUTING.md, "Eligibility"
-- and "Data layout"). Pure reads except the index maintenance at the end.

local function takes(agent, cls)
  if cls == 'chat' then return agent.cc > 0 end
  if cls == 'email' then return agent.ce > 0 end
  return true
end

-- Ready and with room for one more contact of this class (R-CHANNELS).
local function avail(agent, cls)
  if agent.st ~= 'ready' then return false end
  local load = agent.ld
  if cls == 'voice' then return load.voice + load.chat + load.email == 0 end
  local capacity = agent.ce
  if cls == 'chat' then capacity = agent.cc end
  return load.voice == 0 and load[cls] < capacity
end

local function available(agent)
  return avail(agent, 'voice') or avail(agent, 'chat') or avail(agent, 'email')
end

local function skills_ok(agent, contact)
  for skill, level in pairs(contact.rq) do
    if (agent.sk[skill] or 0) < level then return false end
  end
  return true
end

local function lang_ok(agent, contact)
  if contact.lang == nil then return true end
  return in_list(agent.lg, contact.lang)
end

-- A queue's skill floor: the lowest level of each skill it can ever ask for (its
-- requirements relaxed by every prefix of its escalation steps). Cached per call.
local FLOORS = {}
local function skill_floor(queue)
  local floor = FLOORS[queue]
  if floor ~= nil then return floor end
  local cfg = get_queue(queue)
  floor = {}
  if cfg ~= nil then
    local current = {}
    for skill, level in pairs(cfg.sk) do current[skill] = level; floor[skill] = level end
    for _, step in ipairs(cfg.steps) do
      for skill, level in pairs(step.lv) do
        if level == 0 then current[skill] = nil else current[skill] = level end
      end
      for skill, level in pairs(floor) do
        floor[skill] = math.min(level, current[skill] or 0)
      end
    end
  end
  FLOORS[queue] = floor
  return floor
end

local function meets(agent, floor)
  for skill, level in pairs(floor) do
    if (agent.sk[skill] or 0) < level then return false end
  end
  return true
end

-- An agent serves only the queues of its memberships whose skill floor it meets. The
-- record keeps that list (`sv`) so decisions read no queue configs for it; it is
-- recomputed when the memberships or skills change (login, logout, put_agent) and for
-- every member when put_queue moves a queue's floor.
local function refresh_served(agent)
  local served = {}
  for _, queue in ipairs(agent.qs) do
    if get_queue(queue) ~= nil and meets(agent, skill_floor(queue)) then
      served[#served + 1] = queue
    end
  end
  agent.sv = served
end

local function serves(agent, queue)
  if agent.sv == nil then refresh_served(agent) end -- a record from before `sv` existed
  return in_list(agent.sv, queue)
end

local function shares_queue(agent, contact)
  for _, queue in ipairs(agent.qs) do
    if in_list(contact.qs, queue) then return true end
  end
  return false
end

local function shares_served_queue(agent, contact)
  for _, queue in ipairs(agent.qs) do
    if in_list(contact.qs, queue) and serves(agent, queue) then return true end
  end
  return false
end

local function match_general(agent, contact)
  return agent.st ~= 'logged_out' and shares_served_queue(agent, contact)
    and skills_ok(agent, contact) and lang_ok(agent, contact)
end

-- R-PASSIVE: N contacts waiting, or the oldest has waited T seconds.
local function over(queue)
  local cfg = get_queue(queue)
  if cfg == nil then return false end
  local waiting = redis.call('ZCARD', K.arrivals(queue))
  if waiting == 0 then return false end
  if cfg.pw ~= nil and waiting >= cfg.pw then return true end
  if cfg.pt ~= nil then
    local head = redis.call('ZRANGE', K.arrivals(queue), 0, 0, 'WITHSCORES')
    return AT - tonumber(head[2]) >= cfg.pt
  end
  return false
end

local function sticky_holds(contact)
  local agent = get_agent(contact.tg)
  return agent ~= nil and shares_queue(agent, contact)
end

-- May the agent be offered the contact now?
local function eligible(agent, contact)
  if not avail(agent, CLASS[contact.ch]) then return false end
  if contact.rk == 'private' then return agent.id == contact.tg end
  if contact.rk == 'sticky' and agent.id ~= contact.tg then return false end
  if not match_general(agent, contact) then return false end
  if not agent.pv then return true end
  for _, queue in ipairs(contact.qs) do
    if in_list(agent.qs, queue) and serves(agent, queue) and over(queue) then return true end
  end
  return false
end

-- The sorted sets of one queue an available agent belongs in, key -> score. Agents that
-- fail the queue's floor are in none: they can never be offered anything through it.
local function queue_index(agent, queue, index)
  index = index or {}
  if agent.st ~= 'ready' or not serves(agent, queue) then return index end
  if avail(agent, 'voice') then
    -- No contact at all: one set, not three (the usual case on the hot path).
    if agent.pv then index[K.passive(queue)] = agent.idle else index[K.free(queue)] = agent.idle end
  else
    for _, cls in ipairs({'chat', 'email'}) do
      if avail(agent, cls) then
        if agent.pv then
          index[K.pavail(queue, cls)] = agent.idle
        else
          index[K.avail(queue, cls)] = agent.idle
        end
      end
    end
  end
  return index
end

-- Every sorted set the agent belongs in, key -> score.
agent_index = function(agent)
  local index = {}
  if agent.st == 'logged_out' then return index end
  for _, queue in ipairs(agent.qs) do
    index[K.members(queue)] = 0
    queue_index(agent, queue, index)
  end
  return index
end

-- put_queue moved a queue's floor: recompute each member's served queues (O(members),
-- only on such a configuration change); flush_agents then brings the members' entries
-- in the available sets in line. Returns the available members that serve the queue
-- now and did not before, longest idle first (they run (b), as in the model).
local function reindex_queue(queue)
  local joined = {}
  for _, id in ipairs(redis.call('ZRANGE', K.members(queue), 0, -1)) do
    local agent = get_agent(id)
    local before = serves(agent, queue)
    refresh_served(agent)
    save_agent(agent)
    if available(agent) and not before and serves(agent, queue) then
      joined[#joined + 1] = agent
    end
  end
  table.sort(joined, function(a, b)
    return a.idle < b.idle or (a.idle == b.idle and str_lt(a.id, b.id))
  end)
  return joined
end

-- One timer per queue at oldest arrival + T (R-PASSIVE by waiting time). A due timer is
-- left alone: it still has to fire. A queue without T has no timer (put_queue removes it
-- with `config_changed`), so the hot path writes nothing for it.
local function sync_passive_timer(queue, config_changed)
  local cfg = get_queue(queue)
  local member = 'p|' .. queue
  if cfg == nil or cfg.pt == nil then
    if config_changed then del_timer(member) end
    return
  end
  local head = redis.call('ZRANGE', K.arrivals(queue), 0, 0, 'WITHSCORES')
  if #head == 0 then
    del_timer(member)
    return
  end
  local due = tonumber(head[2]) + cfg.pt
  if due > AT then set_timer(member, due) end
end

local function join_queue(contact, queue)
  redis.call('ZADD', K.queued(queue), contact.sc, contact.id)
  redis.call('ZADD', K.waiting(queue, CLASS[contact.ch]), contact.sc, contact.id)
  redis.call('ZADD', K.arrivals(queue), contact.arr, contact.id)
end

local function join_waiting(contact)
  for _, queue in ipairs(contact.qs) do join_queue(contact, queue) end
  for _, queue in ipairs(contact.qs) do sync_passive_timer(queue) end
end

local function leave_waiting(contact)
  for _, queue in ipairs(contact.qs) do
    redis.call('ZREM', K.queued(queue), contact.id)
    redis.call('ZREM', K.waiting(queue, CLASS[contact.ch]), contact.id)
    redis.call('ZREM', K.arrivals(queue), contact.id)
  end
  for _, queue in ipairs(contact.qs) do sync_passive_timer(queue) end
end
