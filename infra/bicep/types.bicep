@export()
@description('A key configured by its hash, as EventIngest:Auth expects it.')
type keyHash = {
  @description('SHA-256 of the key, 64 hex characters: printf %s "$KEY" | sha256sum')
  @secure()
  @minLength(64)
  @maxLength(64)
  hash: string

  @description('Environment the key belongs to (1-64 letters, digits, ".", "_" or "-").')
  @minLength(1)
  @maxLength(64)
  environment: string

  @description('True if x-inngest-env may name any (branch) environment for this key; default false.')
  branchEnvironments: bool?
}

@export()
@description('An EventIngest:Routing route.')
type route = {
  @description('An event name, a prefix ending in * (app/account.*), or *.')
  @minLength(1)
  pattern: string

  @description('Queue that matching events go to (3-63 lower-case letters, digits and single hyphens).')
  @minLength(3)
  @maxLength(63)
  queue: string

  @description('Queues the events are spread over by a hash of their id: queue-0 ... queue-(shards-1). 1 (the default) keeps the plain queue name.')
  @minValue(1)
  @maxValue(32)
  shards: int?
}
