--[[ Make ONE partition live at the first generation of a new ledger, without a change record (no
replica can have seen this ledger yet). A partition left by an initialisation that crashed is taken
over: its generation is replaced, its sequence kept, so sequences never go back.
KEYS  1 partition meta
ARGV  1 generation
Reply 1. ]]

redis.call('HSET', KEYS[1], 'gen', ARGV[1])
redis.call('HSETNX', KEYS[1], 'seq', 0)
redis.call('HSETNX', KEYS[1], 'hw', 0)
redis.call('HSETNX', KEYS[1], 'ws', '-9007199254740992')
return 1
