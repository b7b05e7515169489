// Tests run in Node by default; panel.spec.ts opts into jsdom with a docblock.
// @jupyterlab/ui-components (ES modules, web components) is mocked there
// rather than transformed, and index.ts (the plugin wiring) is not unit-tested.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  setupFiles: ['<rootDir>/jest.setup.js'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  }
};
