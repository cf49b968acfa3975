--[[ Switch ONE partition to a newly loaded generation (a snapshot load) and record "everything
changed", so that every replica rebuilds. A partition never moves back to an older generation.
The count times and journals belong to the generation; the newest event time and the window do not
(the window keeps moving forward across loads, as in the embedded ledger).
KEYS  1 partition meta, 2 change stream
ARGV  1 new generation, 2 stream MAXLEN
Reply {0, gen, seq before, seq after} or {-1, live generation} when a newer load already won. ]]

local meta = redis.call('HMGET', KEYS[1], 'gen', 'seq')
if (tonumber(meta[1]) or 0) >= tonumber(ARGV[1]) then
  return {-1, meta[1] or ''}
end
local seq0 = tonumber(meta[2]) or 0
local seq = seq0 + 1
redis.call('HSET', KEYS[1], 'gen', ARGV[1], 'seq', seq)
redis.call('HDEL', KEYS[1], 'lk', 'cv') -- holds carried over are in the new generation; its catalogue is v1
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], string.format('%d-0', seq), 'k', 'x',
  'p', string.format('%d', seq0), 'g', ARGV[1])
return {0, ARGV[1], seq0, seq}
