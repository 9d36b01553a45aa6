// TypeScript SDK generation for the contract checks (scripts/contract.sh).
export default {
  input: "../openapi/openapi.json",
  output: "generated/ts",
  plugins: ["@hey-api/client-fetch", "@hey-api/typescript", "@hey-api/sdk"],
};
