// The name of the lease a running service holds on its database, apart from the service's module:
// the offline commands that check it (restore) start without loading the whole service.

/** Held while a service runs on the database: the command line refuses to work on it offline. */
export const SERVICE_LEASE = 'service';
