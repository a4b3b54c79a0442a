@export()
@description('An event key configured by its hash, as EventIngest:Auth:EventKeys expects it.')
type eventKeyHash = {
  @description('SHA-256 of the key, 64 hex characters: printf %s "$KEY" | sha256sum')
  @secure()
  @minLength(64)
  @maxLength(64)
  hash: string

  @description('Environment the key belongs to (1-64 letters, digits, ".", "_" or "-").')
  @minLength(1)
  @maxLength(64)
  environment: string

  @description('True if x-inngest-env may also name a branch environment: one no other key names, never production. Default false.')
  branchEnvironments: bool?

  @description('With branchEnvironments: a branch environment\'s name must start with this (for example "pr-"). Default: any name.')
  branchPrefix: string?
}

@export()
@description('A signing key configured by its hash, as EventIngest:Auth:SigningKeys expects it.')
type signingKeyHash = {
  @description('SHA-256 of the key, 64 hex characters: printf %s "$KEY" | sha256sum')
  @secure()
  @minLength(64)
  @maxLength(64)
  hash: string

  @description('Environment the key belongs to (1-64 letters, digits, ".", "_" or "-").')
  @minLength(1)
  @maxLength(64)
  environment: string

  @description('What the key may do, comma-separated: read (look up and list), write (replay, reschedule, cancel), erase (erase a person). Default: read.')
  scopes: string?
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

  @description('Puts the events of one request for this queue into as few messages as fit (64 KiB) instead of one each; consumers read them with EventReader.ReadAllAsync. Off when left out.')
  packed: bool?

  @description('One of queueAccounts: the storage account that holds this queue and its shards instead of the main one. Left out: the main account.')
  account: string?
}
