/**
 * Dependency rules, checked by `npm test` (docs/architecture.md, "Habits"):
 * no import cycles; a folder's `internal/` is imported only from inside that folder;
 * the wire format and the transports know nothing of the cluster built on them.
 */
const internalOf = (folder) => ({
  name: `internal-of-${folder.replaceAll("/", "-")}`,
  comment: `${folder}/internal/ is private to ${folder}/`,
  severity: "error",
  from: { path: "^src/", pathNot: `^${folder}/` },
  to: { path: `^${folder}/internal/` }
})

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "a cycle of runtime imports (a public module and its internal builder may share types both ways)",
      severity: "error",
      from: {},
      to: { circular: true, dependencyTypesNot: ["type-only"], viaOnly: { dependencyTypesNot: ["type-only"] } }
    },
    internalOf("src/cluster"),
    internalOf("src/node"),
    internalOf("src/wire"),
    {
      name: "wire-and-transport-below-cluster",
      comment: "the wire format and the transports are the layers below the cluster",
      severity: "error",
      from: { path: "^src/(wire|transport|node)/" },
      to: { path: "^src/cluster/" }
    },
    { name: "not-to-tests", severity: "error", from: { path: "^src/" }, to: { path: "^(test|bench|examples)/" } }
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] }
  }
}
