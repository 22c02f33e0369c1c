// Type-checked by the package's tests (`tsc --noEmit`): the declarations a TypeScript
// server compiles against.
import { DcsyncError, ExternalSyncManager, SyncReport } from '..';

export async function syncOnce(store: string, password: string): Promise<SyncReport | null> {
  const manager = new ExternalSyncManager({
    store,
    config: { type: 'openfn-adapter', url: 'https://app.openfn.org/i/abc', extraFields: [] },
  });
  try {
    await manager.initialize();
    if (!manager.isInitialized()) return null;
    const report = await manager.synchronize({ username: 'registrar', password });
    const pushed: number = report.pushed;
    const status = await manager.status();
    const last = (await manager.runs(5))[0];
    console.log(pushed, status.pending, last?.errorClass ?? 'none');
    for (const a of await manager.adapters()) {
      if (a.status === 'loaded') console.log(a.type, a.version);
      else console.log(a.file, a.reason);
    }
    return report;
  } catch (e) {
    if (e instanceof DcsyncError && e.code === 'unauthorized') return null;
    throw e;
  } finally {
    await manager.close();
  }
}
