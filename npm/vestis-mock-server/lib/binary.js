// Finds the vestis-mock-server executable for this machine.
//
// Like esbuild and Biome, the binary ships in one optional dependency per
// platform (`@vestis/mock-server-<platform>-<arch>`); npm installs only the
// one whose `os`/`cpu` match. VESTIS_MOCK_SERVER_BINARY overrides the lookup
// (a binary built with `cargo build --release -p vestis-mock-server`).
'use strict';

const fs = require('node:fs');

/** Platform packages that are built and published, by `${process.platform}-${process.arch}`. */
const PLATFORM_PACKAGES = {
  'linux-x64': '@vestis/mock-server-linux-x64',
};

/**
 * The absolute path of the binary to run.
 * @returns {string}
 * @throws {Error} when no binary exists for this platform, saying what to do.
 */
function binaryPath() {
  const override = process.env.VESTIS_MOCK_SERVER_BINARY;
  if (override) {
    if (!fs.existsSync(override)) {
      throw new Error(`vestis-mock-server: VESTIS_MOCK_SERVER_BINARY=${override} does not exist`);
    }
    return override;
  }
  const platform = `${process.platform}-${process.arch}`;
  const pkg = PLATFORM_PACKAGES[platform];
  if (!pkg) {
    throw new Error(
      `vestis-mock-server: no prebuilt binary for ${platform} (built: ${Object.keys(PLATFORM_PACKAGES).join(', ')}); ` +
        'build one with `cargo install vestis-mock-server` and set VESTIS_MOCK_SERVER_BINARY to its path',
    );
  }
  try {
    return require.resolve(`${pkg}/bin/vestis-mock-server`);
  } catch {
    throw new Error(missingPlatformPackage(pkg, platform));
  }
}

/**
 * Why the platform package is missing and what to do, one cause per
 * line: the optional dependency npm skips is the binary itself.
 * @param {string} pkg
 * @param {string} platform
 * @returns {string}
 */
function missingPlatformPackage(pkg, platform) {
  return [
    `vestis-mock-server: the package ${pkg}, which holds the binary for ${platform}, is not installed.`,
    'It is an optional dependency, and npm skips it when:',
    `  - the lockfile was written on another platform (a Mac, say) and lacks this platform's package.`,
    `    Fix: delete node_modules and package-lock.json and run \`npm install\` here, or add it for this platform:`,
    `    \`npm install --save-optional ${pkg}\`.`,
    '  - optional dependencies were left out (`npm install --omit=optional`, `--no-optional`,',
    '    `npm_config_omit=optional`, `yarn --ignore-optional`).',
    '    Fix: install again without that option.',
    'Or run a binary of your own: build it with `cargo install vestis-mock-server` and set',
    'VESTIS_MOCK_SERVER_BINARY to its path (or pass `binary` to startMockServer).',
  ].join('\n');
}

module.exports = { binaryPath, PLATFORM_PACKAGES };
