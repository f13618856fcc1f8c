#!/usr/bin/env node
// The noex-effect command line. tsx is registered so `--behaviors` may name a TypeScript module.
import { register } from "tsx/esm/api"

register()
await import("../src/cli/main.ts")
