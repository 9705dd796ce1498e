// cypress.config.mjs: in specs, Cypress.env('apiUrl'); cy.request('POST', `${Cypress.env('adminUrl')}/reset`)
import { startMockServer } from 'vestis-mock-server';

export default {
  e2e: {
    async setupNodeEvents(on, config) {
      const mock = await startMockServer({ paused: true });
      on('after:run', () => mock.stop());
      config.env.apiUrl = mock.apiUrl;
      config.env.adminUrl = mock.admin.url;
      return config;
    },
  },
};
