// Moved to lib/testing/seeded.ts (the JS fuzz targets use it too).
export * from '../../lib/testing/seeded.js'
