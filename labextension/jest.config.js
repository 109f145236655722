// Jest runs the tests of the front end's logic (test/*.test.ts: no DOM, no JupyterLab) through
// ts-jest with its own compiler settings (tsconfig.test.json): the build's tsconfig.json compiles
// src/ alone, into the extension.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      { tsconfig: 'tsconfig.test.json' }
    ]
  }
};
