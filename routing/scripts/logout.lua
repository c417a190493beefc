-- logout.lua: remove queue memberships; with none left the agent is logged out and its
-- pending reservations are released. Sticky contacts whose agent left their queues fall
-- back to the general queue.
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] agent id           ARGV[5] msgpack list of queue names, or '' for all
-- Errors: unknown-agent.
-- Returns msgpack [[reservation id, agent, contact, expires at], ...].

local agent = get_agent(ARGV[4])
if agent == nil then return redis.error_reply('unknown-agent: ' .. ARGV[4]) end
local names = nil
if ARGV[5] ~= '' then names = cmsgpack.unpack(ARGV[5]) end
local removed, kept = {}, {}
for _, name in ipairs(agent.qs) do
  if names == nil or in_list(names, name) then
    removed[#removed + 1] = name
  else
    kept[#kept + 1] = name
  end
end
agent.qs = kept
refresh_served(agent)
save_agent(agent)
log('logout', agent.id, '', table.concat(removed, ','))
if #agent.qs == 0 and agent.st ~= 'logged_out' then
  agent.st = 'logged_out'
  agent.rs = nil
  agent.wu = nil
  save_agent(agent)
  del_timer('w|' .. agent.id)
  for _, cid in ipairs(pending_of(agent)) do
    local contact = get_contact(cid)
    F.detach(contact)
    F.place(contact)
  end
end
local key = K.targeted(agent.id)
for _, cid in ipairs(redis.call('ZRANGE', key, 0, -1)) do
  local contact = get_contact(cid)
  if contact.rk == 'sticky' and not sticky_holds(contact) then
    redis.call('ZREM', key, cid)
    F.untarget(contact)
    contact.st = 'placing'
    save_contact(contact)
    F.place(contact)
  end
end
return done()
