// The vendor guide's Express example ("Authenticate your backend", step 4, server.ts), as
// written, with only what running it here needs: CommonJS require instead of the TypeScript
// import, Node's built-in fetch instead of node-fetch, the upstream base URL from
// ORGA_BASE_URL (a FakeOrga on loopback) instead of https://api.orga-ai.com, and the
// app.listen the guide leaves out (PORT, on 127.0.0.1 only). The route itself is unchanged:
// no authorization, no rate limit, no cache headers. That is what the doctor must find.
'use strict';

const express = require('express');

const base = process.env.ORGA_BASE_URL;
if (!base || !process.env.ORGA_API_KEY || !process.env.PORT) {
  console.error('guide_express.js needs ORGA_BASE_URL, ORGA_API_KEY and PORT');
  process.exit(2);
}

const app = express();

app.get('/api/orga-client-secrets', async (_req, res) => {
  try {
    const secrets = await fetch(`${base}/v1/realtime/client-secrets`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${process.env.ORGA_API_KEY}` },
    }).then((r) => r.json());

    const iceConfig = await fetch(`${base}/v1/realtime/ice-config`, {
      headers: { Authorization: `Bearer ${secrets.ephemeralToken}` },
    }).then((r) => r.json());

    res.json({
      ephemeralToken: secrets.ephemeralToken,
      iceServers: iceConfig.iceServers,
    });
  } catch (error) {
    console.error('Orga auth error', error);
    res.status(500).json({ error: 'Failed to issue client secrets' });
  }
});

const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => {
  console.log(`guide_express listening on 127.0.0.1:${process.env.PORT}`);
});
// Stop promptly when the test says so (SIGTERM), closing idle keep-alive sockets too.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
