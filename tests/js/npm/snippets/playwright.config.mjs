// playwright.config.mjs: the mock first, then your dev server pointed at it.
const MOCK_PORT = process.env.MOCK_PORT ?? '4010';
const DEV_PORT = process.env.DEV_PORT ?? '5173';

export default {
  use: { baseURL: `http://127.0.0.1:${DEV_PORT}` },
  webServer: [
    {
      command: `npx vestis-mock-server --port ${MOCK_PORT} --seed 42 --processing-time 200ms..400ms`,
      url: `http://127.0.0.1:${MOCK_PORT}/health`,
      reuseExistingServer: !process.env.CI,
    },
    {
      command: `npm run dev -- --port ${DEV_PORT}`,
      url: `http://127.0.0.1:${DEV_PORT}`,
      env: { VITE_API_URL: `http://127.0.0.1:${MOCK_PORT}/api/v1` },
      reuseExistingServer: !process.env.CI,
    },
  ],
};
