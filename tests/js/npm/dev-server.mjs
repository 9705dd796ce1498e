// A stand-in for a frontend dev server (`npm run dev -- --port N`) in the
// scratch project of the npm test: it answers `/` with the VITE_API_URL it
// was started with, so the test sees what the app would call.
import http from 'node:http';

const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
const server = http.createServer((_req, res) => res.end(process.env.VITE_API_URL ?? ''));
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
