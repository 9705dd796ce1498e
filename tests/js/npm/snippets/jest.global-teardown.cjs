// jest.global-teardown.cjs
module.exports = () => globalThis.mock.stop();
