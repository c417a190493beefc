-- release.lua: the agent did not answer (R-NOANSWER): the contact goes back to its original
-- place and is offered to the next agent at once; the agent pauses or goes to the back of
-- the line.
-- KEYS[1] timers zset        KEYS[2] log stream
-- ARGV[1] key prefix         ARGV[2] now          ARGV[3] log max length
-- ARGV[4] contact id         ARGV[5] reservation id
-- ARGV[6] 'available' | 'paused' | '' (the queue's no_answer_state)
-- Errors: unknown-reservation.
-- Returns msgpack [[reservation id, agent, contact, expires at], ...].

local contact = get_contact(ARGV[4])
if contact == nil or contact.st ~= 'reserved' or contact.rid ~= ARGV[5] then
  return redis.error_reply('unknown-reservation: ' .. ARGV[5])
end
local state = ARGV[6]
if state == '' then state = get_queue(contact.q).nas end
F.release(contact, state)
return done()
