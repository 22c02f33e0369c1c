// world datacollect:external-sync/adapter-world@1.2.0
export type * as DatacollectExternalSyncEventApplier120 from './interfaces/datacollect-external-sync-event-applier.js'; // import datacollect:external-sync/event-applier@1.2.0
export type * as DatacollectExternalSyncEventStore120 from './interfaces/datacollect-external-sync-event-store.js'; // import datacollect:external-sync/event-store@1.2.0
export type * as DatacollectExternalSyncHttp120 from './interfaces/datacollect-external-sync-http.js'; // import datacollect:external-sync/http@1.2.0
export type * as DatacollectExternalSyncLog120 from './interfaces/datacollect-external-sync-log.js'; // import datacollect:external-sync/log@1.2.0
export type * as DatacollectExternalSyncRunState120 from './interfaces/datacollect-external-sync-run-state.js'; // import datacollect:external-sync/run-state@1.2.0
export type * as DatacollectExternalSyncTypes120 from './interfaces/datacollect-external-sync-types.js'; // import datacollect:external-sync/types@1.2.0
export * as adapter from './interfaces/datacollect-external-sync-adapter.js'; // export datacollect:external-sync/adapter@1.2.0
export * as manifest from './interfaces/datacollect-external-sync-manifest.js'; // export datacollect:external-sync/manifest@1.2.0
export * as checks from './interfaces/datacollect-external-sync-checks.js'; // export datacollect:external-sync/checks@1.2.0
export * as encodedPush from './interfaces/datacollect-external-sync-encoded-push.js'; // export datacollect:external-sync/encoded-push@1.2.0
