'use strict';
// DataCollect's `POST /api/sync/external`, served by dcsync instead of the TypeScript
// manager: the same request (`{configId, credentials?}`) and the same answers, always
// HTTP 200 (packages/backend/src/routes/syncRoutes.ts in idpass-data-collect):
//   {"status":"success"}
//   {"status":"error","message":"App instance not found"}
//   {"status":"error","message":"Failed to sync with external system","details":{code,name}}
// `details` is what JSON.stringify gives for the original's AppError ({code, name}); here
// `code` is dcsync's error class. Mount it behind your authentication (the original uses
// its authenticateJWT middleware).
//
//   node examples/sync-route.js apps.json        (apps.json: {"<configId>": {store, config}})

const express = require('express');
const { ExternalSyncManager } = require('..');

/** A router serving `POST /api/sync/external` for the app configs in `apps`. */
function syncRouter(apps, { adapters } = {}) {
  const managers = new Map();

  // One manager per app config, created and initialized on first use, as the original's
  // app instances hold one each.
  async function managerFor(configId) {
    if (!managers.has(configId)) {
      const app = apps[configId];
      if (!app) return null;
      const m = new ExternalSyncManager({ store: app.store, config: app.config, adapters });
      managers.set(configId, m.initialize().then(() => m));
    }
    return managers.get(configId);
  }

  const router = express.Router();
  router.post('/api/sync/external', express.json(), async (req, res) => {
    const { configId = 'default', credentials } = req.body ?? {};
    let manager;
    try {
      manager = await managerFor(configId);
    } catch (error) {
      managers.delete(configId);
      return res.json(failed(error));
    }
    if (!manager) return res.json({ status: 'error', message: 'App instance not found' });
    try {
      await manager.synchronize(credentials);
      res.json({ status: 'success' });
    } catch (error) {
      res.json(failed(error));
    }
  });
  router.close = async () => {
    for (const m of managers.values()) await (await m.catch(() => null))?.close();
  };
  return router;
}

function failed(error) {
  // The engine's messages hold no secret; log them for the operator, answer the class.
  console.error(`external sync failed (${error.code}): ${error.message}`);
  return {
    status: 'error',
    message: 'Failed to sync with external system',
    details: { code: error.code, name: error.name },
  };
}

module.exports = { syncRouter };

if (require.main === module) {
  const apps = JSON.parse(require('node:fs').readFileSync(process.argv[2] ?? 'apps.json', 'utf8'));
  const app = express();
  app.use(syncRouter(apps, { adapters: process.env.DCSYNC_ADAPTERS }));
  const server = app.listen(Number(process.env.PORT ?? 3000), () => {
    console.log(`POST http://localhost:${server.address().port}/api/sync/external`);
  });
}
