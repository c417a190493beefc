-- lib_flow.lua: the decisions and their cascades (docs/ROUTING.md, "Decisions"). The order
-- of every step mirrors routing/model.py, which is the specification.

local F = {}

-- Walk a sorted set from the head in growing batches (the head is usually taken, and
-- every row fetched costs a Lua string). Stop at the first member `accept` takes, or at
-- one `beats` says cannot win; return it with its score.
local function first_of(key, beats, accept)
  local start, size = 0, FIRST_BATCH
  repeat
    local rows = redis.call('ZRANGE', key, start, start + size - 1, 'WITHSCORES')
    for i = 1, #rows, 2 do
      local id, score = rows[i], tonumber(rows[i + 1])
      if not beats(id, score) then return nil end
      if accept(id) then return id, score end
    end
    start = start + size
    local fetched = size
    size = math.min(size * 2, MAX_BATCH)
  until #rows < 2 * fetched
  return nil
end

-- A sorted set read from the head in growing batches.
local function cursor(key, first)
  return {key = key, rows = {}, at = 1, start = 0, size = first or FIRST_BATCH, done = false}
end

local function peek(cur)
  if cur.at > #cur.rows then
    if cur.done then return nil end
    cur.rows = redis.call('ZRANGE', cur.key, cur.start, cur.start + cur.size - 1, 'WITHSCORES')
    cur.at = 1
    cur.done = #cur.rows < 2 * cur.size
    cur.start = cur.start + cur.size
    cur.size = math.min(cur.size * 2, MAX_BATCH)
    if #cur.rows == 0 then return nil end
  end
  return cur.rows[cur.at], tonumber(cur.rows[cur.at + 1])
end

-- The cursor whose head is the smallest (score, id), with that head; nil when all are
-- exhausted. The caller consumes the head with `cur.at = cur.at + 2`.
local function smallest(cursors)
  local best, best_id, best_score = nil, nil, nil
  for _, cur in ipairs(cursors) do
    local id, score = peek(cur)
    if id ~= nil and (best == nil or score < best_score
                      or (score == best_score and str_lt(id, best_id))) then
      best, best_id, best_score = cur, id, score
    end
  end
  return best, best_id
end

-- (a) The eligible available agent idle the longest: the queue's free agents (and, for
-- chat/e-mail, the agents with room left) from the head; passive agents only in queues
-- over threshold. The best of the queues' first eligible agents wins.
function F.best_agent(contact, skip)
  flush_agents() -- the scan reads the agents' sorted sets
  local cls = CLASS[contact.ch]
  local best, best_idle = nil, nil
  local function beats(id, idle)
    return best == nil or idle < best_idle or (idle == best_idle and str_lt(id, best))
  end
  local function consider(key, check)
    local id, idle = first_of(key, beats, function(candidate)
      if candidate == skip then return false end
      local agent = get_agent(candidate)
      return check(agent) and skills_ok(agent, contact) and lang_ok(agent, contact)
    end)
    if id ~= nil then best, best_idle = id, idle end
  end
  local function takes_it(agent) return takes(agent, cls) end
  local function has_room(agent) return avail(agent, cls) end
  for _, queue in ipairs(contact.qs) do
    consider(K.free(queue), takes_it)
    if cls ~= 'voice' then consider(K.avail(queue, cls), has_room) end
    if over(queue) then
      consider(K.passive(queue), takes_it)
      if cls ~= 'voice' then consider(K.pavail(queue, cls), has_room) end
    end
  end
  return best
end

-- (b) The best contact the agent may take: highest priority, then earliest arrival, then
-- id, across its queues' waiting sets and its own targeted set. The sets are merged by
-- (score, id) from their heads (first read one row each, then growing batches), so
-- only the contacts ahead of the first eligible one are decoded.
function F.best_contact(agent)
  local cursors = {}
  local function add(key, check)
    local cur = cursor(key, 1)
    cur.check = check
    cursors[#cursors + 1] = cur
  end
  local function general(contact)
    return skills_ok(agent, contact) and lang_ok(agent, contact)
  end
  local function any_class(contact)
    return takes(agent, CLASS[contact.ch]) and general(contact)
  end
  local function targeted(contact)
    return eligible(agent, contact)
  end
  local free = avail(agent, 'voice')
  for _, queue in ipairs(agent.qs) do
    if serves(agent, queue) and ((not agent.pv) or over(queue)) then
      if free then
        -- No contact at all: room for every class it takes, so one set per queue.
        add(K.queued(queue), any_class)
      else
        for _, cls in ipairs({'chat', 'email'}) do
          if avail(agent, cls) then add(K.waiting(queue, cls), general) end
        end
      end
    end
  end
  add(K.targeted(agent.id), targeted)
  -- A contact waiting in several of the agent's queues passes or fails the same check
  -- in each: decode it once.
  local rejected = {}
  while true do
    local cur, id = smallest(cursors)
    if cur == nil then return nil end
    cur.at = cur.at + 2
    if not rejected[id] then
      if cur.check(get_contact(id)) then return id end
      rejected[id] = true
    end
  end
end

function F.reserve(agent, contact)
  local cls = CLASS[contact.ch]
  local was_waiting = contact.st == 'waiting'
  contact.at = contact.at + 1
  contact.st = 'reserved'
  contact.ag = agent.id
  contact.rid = contact.id .. '#' .. contact.at
  -- Made now even in a late tick's cascade: the agent gets the whole timeout from now.
  contact.ex = NOW + get_queue(contact.q).rto
  if was_waiting and contact.rk == nil then
    leave_waiting(contact)
  elseif was_waiting then
    redis.call('ZREM', K.targeted(contact.tg), contact.id)
  end
  save_contact(contact)
  agent.ld[cls] = agent.ld[cls] + 1
  agent.as[contact.id] = 'reserved'
  save_agent(agent)
  set_timer('r|' .. contact.id, contact.ex)
  log('reserve', agent.id, contact.id, '', NOW_TEXT)
  OUT[#OUT + 1] = {contact.rid, agent.id, contact.id, contact.ex}
end

function F.route_contact(contact, skip)
  local id
  if contact.rk ~= nil then
    local agent = get_agent(contact.tg)
    if contact.tg ~= skip and agent ~= nil and eligible(agent, contact) then id = contact.tg end
  else
    id = F.best_agent(contact, skip)
  end
  if id == nil then return false end
  F.reserve(get_agent(id), contact)
  return true
end

function F.route_agent(agent)
  while available(agent) do
    local id = F.best_contact(agent)
    if id == nil then return end
    F.reserve(agent, get_contact(id))
  end
end

function F.untarget(contact)
  contact.rk = nil
  contact.un = nil
  del_timer('x|' .. contact.id)
  save_contact(contact)
  log('untarget', '', contact.id, '')
end

-- R-PASSIVE: while the queue is over threshold, its available passive agents run (b),
-- longest idle first. Reads only the available passive agents that serve the queue
-- (never the paused or busy ones), and stops as soon as the queue is no longer over.
function F.activate(queue)
  if not over(queue) then return end
  flush_agents() -- the passive sets' order is the agents' idle_since
  -- Nothing below writes an agent's sorted sets (the records are flushed at the end),
  -- so the ranks the cursors walk stay valid: the order is the one at the start.
  local cursors = {cursor(K.passive(queue)), cursor(K.pavail(queue, 'chat')),
                   cursor(K.pavail(queue, 'email'))}
  local seen = {}
  while true do
    local cur, id = smallest(cursors)
    if cur == nil then return end
    cur.at = cur.at + 2
    if not seen[id] then
      seen[id] = true
      F.route_agent(get_agent(id))
      if not over(queue) then return end
    end
  end
end

-- A contact that is in no set: offer it, else queue it and wake passive agents.
function F.place(contact, skip)
  if contact.rk == 'sticky' and not sticky_holds(contact) then F.untarget(contact) end
  if F.route_contact(contact, skip) then return end
  contact.st = 'waiting'
  save_contact(contact)
  if contact.rk ~= nil then
    log('wait', contact.tg, contact.id, '')
    redis.call('ZADD', K.targeted(contact.tg), contact.sc, contact.id)
    return
  end
  log('wait', '', contact.id, '')
  join_waiting(contact)
  for _, queue in ipairs(contact.qs) do F.activate(queue) end
end

-- Undo a pending reservation; the contact is left in no set ('placing').
function F.detach(contact)
  local agent = get_agent(contact.ag)
  local cls = CLASS[contact.ch]
  agent.ld[cls] = agent.ld[cls] - 1
  agent.as[contact.id] = nil
  save_agent(agent)
  del_timer('r|' .. contact.id)
  contact.st = 'placing'
  contact.ag = nil
  contact.rid = nil
  contact.ex = nil
  save_contact(contact)
  log('release', agent.id, contact.id, '')
  return agent
end

function F.pause_agent(agent, reason, first)
  agent.st = 'paused'
  agent.rs = reason
  agent.wu = nil
  save_agent(agent)
  del_timer('w|' .. agent.id)
  log('pause', agent.id, '', '')
  if first ~= nil then F.place(first) end
  for _, cid in ipairs(pending_of(agent)) do
    local contact = get_contact(cid)
    F.detach(contact)
    F.place(contact)
  end
end

-- R-NOANSWER: back to the original place; the agent pauses or goes to the back of the line.
function F.release(contact, state)
  local agent = F.detach(contact)
  if state == 'paused' then
    F.pause_agent(agent, NO_ANSWER, contact)
    return
  end
  agent.idle = AT
  save_agent(agent)
  F.place(contact, agent.id)
  F.route_agent(agent)
end

-- Apply every escalation step due at AT; return the queues added.
function F.escalate_due(contact)
  local added, applied = {}, false
  while contact.ap < #contact.steps do
    local step = contact.steps[contact.ap + 1]
    if contact.arr + step.after > AT then break end
    for skill, level in pairs(step.lv) do
      if level == 0 then contact.rq[skill] = nil else contact.rq[skill] = level end
    end
    if step.dl then contact.lang = nil end
    for _, queue in ipairs(step.aq) do
      if get_queue(queue) ~= nil and not in_list(contact.qs, queue) then
        contact.qs[#contact.qs + 1] = queue
        added[#added + 1] = queue
      end
    end
    contact.ap = contact.ap + 1
    applied = true
  end
  if contact.ap < #contact.steps then
    set_timer('e|' .. contact.id, contact.arr + contact.steps[contact.ap + 1].after)
  else
    del_timer('e|' .. contact.id)
  end
  save_contact(contact)
  if applied then log('escalate', '', contact.id, table.concat(added, ',')) end
  return added
end

function F.fire(member)
  local kind, name = string.sub(member, 1, 1), string.sub(member, 3)
  if kind == 'r' then
    local contact = get_contact(name)
    F.release(contact, get_queue(contact.q).nas)
  elseif kind == 'w' then
    local agent = get_agent(name)
    agent.st = 'ready'
    agent.wu = nil
    agent.idle = AT
    save_agent(agent)
    log('ready', agent.id, '', '')
    F.route_agent(agent)
  elseif kind == 'e' then
    local contact = get_contact(name)
    local added = F.escalate_due(contact)
    if contact.st ~= 'waiting' then return end
    if contact.rk ~= nil then
      F.route_contact(contact)
      return
    end
    for _, queue in ipairs(added) do join_queue(contact, queue) end
    for _, queue in ipairs(added) do sync_passive_timer(queue) end
    if not F.route_contact(contact) then
      for _, queue in ipairs(added) do F.activate(queue) end
    end
  elseif kind == 'x' then
    local contact = get_contact(name)
    local was_waiting = contact.st == 'waiting'
    if was_waiting then redis.call('ZREM', K.targeted(contact.tg), contact.id) end
    F.untarget(contact)
    if was_waiting then
      contact.st = 'placing'
      save_contact(contact)
      F.place(contact)
    end
  elseif kind == 'p' then
    F.activate(name)
  end
end
