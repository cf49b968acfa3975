--[[ A new catalogue version (an upsert of locations) in ONE partition: its hold catalogue and version
change together, atomically in the partition's slot, and the stream announces it, so every replica
re-reads `<prefix>:g<G>:network` before any later record of this partition. A version not newer than
the partition's (a concurrent upsert got here first) changes nothing.
KEYS  1 partition meta, 2 change stream, 3 hold catalogue of the generation
ARGV  1 generation expected, 2 stream MAXLEN, 3 catalogue version, 4 hold catalogue (packed)
Reply {0, gen, seq before, seq after} (equal when nothing changed) or {-1, live generation}. ]]

local meta = redis.call('HMGET', KEYS[1], 'gen', 'seq', 'cv')
if meta[1] ~= ARGV[1] then
  return {-1, meta[1] or ''}
end
local seq0 = tonumber(meta[2]) or 0
if (tonumber(meta[3]) or 1) >= tonumber(ARGV[3]) then
  return {0, ARGV[1], seq0, seq0}
end
local seq = seq0 + 1
redis.call('SET', KEYS[3], ARGV[4])
redis.call('HSET', KEYS[1], 'seq', seq, 'cv', ARGV[3]) -- hold.lua checks rows against it
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], string.format('%d-0', seq), 'k', 'n',
  'p', string.format('%d', seq0), 'g', ARGV[1], 'v', ARGV[3])
return {0, ARGV[1], seq0, seq}
