// jest.global-setup.cjs (jest.config: globalSetup, globalTeardown)
const { startMockServer } = require('vestis-mock-server');

module.exports = async () => {
  globalThis.mock = await startMockServer({ processingTime: '200ms..400ms' });
  process.env.REACT_APP_API_URL = globalThis.mock.apiUrl; // test workers inherit it
};
