-- pick.lua: a telephonist picks a waiting contact for an agent, out of turn (R-PICK,
-- R-TELEPHONIST). The offer is an ordinary reservation; the checks and their order mirror
-- ReferenceRouter.pick (routing/model.py).
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] contact id         ARGV[5] agent id
-- Errors: unknown-contact, contact-not-waiting, unknown-agent, agent-unavailable (not
-- ready: logged out, paused or in wrap-up), agent-busy (a pending offer, or no room for the contact's class).
-- Returns msgpack [[reservation id, agent, contact, expires at]].

local contact = get_contact(ARGV[4])
if contact == nil then return redis.error_reply('unknown-contact: ' .. ARGV[4]) end
if contact.st ~= 'waiting' then
  return redis.error_reply('contact-not-waiting: contact ' .. contact.id .. ' is '
    .. contact.st .. ', not waiting')
end
local agent = get_agent(ARGV[5])
if agent == nil then return redis.error_reply('unknown-agent: ' .. ARGV[5]) end
if agent.st ~= 'ready' then
  return redis.error_reply('agent-unavailable: agent ' .. agent.id .. ' is ' .. agent.st)
end
-- Room for the class whatever the presence: avail() without its 'ready' test.
local cls = CLASS[contact.ch]
local load = agent.ld
local room
if cls == 'voice' then
  room = load.voice + load.chat + load.email == 0
elseif cls == 'chat' then
  room = load.voice == 0 and load.chat < agent.cc
else
  room = load.voice == 0 and load.email < agent.ce
end
if #pending_of(agent) > 0 or not room then
  return redis.error_reply('agent-busy: agent ' .. agent.id .. ' has a pending offer or no room')
end
log('pick', agent.id, contact.id, contact.q)
F.reserve(agent, contact)
return done()
