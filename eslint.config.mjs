// Lint and formatting, as the Effect monorepo does: typescript-eslint's recommended rules
// and @effect/eslint-plugin's dprint rule with the monorepo's formatting settings.
import * as effectEslint from "@effect/eslint-plugin"
import tseslint from "typescript-eslint"

export default tseslint.config(
  // test/.snippets: the docs snippets as written in the docs, extracted by test/docs-snippets.test.ts.
  { ignores: ["dist/**", "node_modules/**", "**/*.mjs", "**/*.cjs", "test/.snippets/**"] },
  ...tseslint.configs.recommended,
  ...effectEslint.configs.dprint,
  {
    files: ["**/*.ts"],
    rules: {
      "@effect/dprint": [
        "error",
        {
          config: {
            indentWidth: 2,
            lineWidth: 120,
            semiColons: "asi",
            quoteStyle: "alwaysDouble",
            trailingCommas: "never",
            operatorPosition: "maintain",
            "arrowFunction.useParentheses": "force"
          }
        }
      ],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // The process table and codecs handle values of any shape on purpose; `unknown` is used at the boundaries.
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-empty-object-type": "off"
    }
  }
)
