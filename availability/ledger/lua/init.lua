--[[ Make ONE partition live at its first generation, at sequence 0 and without a change record:
no replica can have seen this ledger before. Does nothing when the partition already exists.
KEYS  1 partition meta
ARGV  1 generation
Reply 1 when initialised, 0 when it already existed. ]]

if redis.call('HEXISTS', KEYS[1], 'gen') == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'gen', ARGV[1], 'seq', 0, 'hw', 0, 'ws', '-9007199254740992')
return 1
