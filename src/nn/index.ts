export { Module } from "./module.ts";
export { Parameter } from "./parameter.ts";
