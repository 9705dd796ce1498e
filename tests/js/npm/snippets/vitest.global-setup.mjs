// vitest.global-setup.mjs (vitest.config: test.globalSetup); in tests: inject('apiUrl')
import { startMockServer } from 'vestis-mock-server';

export default async function setup({ provide }) {
  const mock = await startMockServer({ seed: 42, processingTime: '50ms' });
  provide('apiUrl', mock.apiUrl);
  provide('adminUrl', mock.admin.url);
  return () => mock.stop();
}
