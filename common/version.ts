// The mesh's version, as every component reports it (istio_build's tag, the controller's status).
// test/unit/version.test.ts keeps it equal to package.json's.
export const MESH_VERSION = '0.1.0';
