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
    throw new Error(
      `vestis-mock-server: the package ${pkg} is not installed; it is an optional dependency, ` +
        'so it was skipped by `npm install --no-optional` (or `--omit=optional`): reinstall without that flag',
    );
  }
}

module.exports = { binaryPath, PLATFORM_PACKAGES };
