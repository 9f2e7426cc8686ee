"""The simulator (`postloan simulate`): a generated loan book run day by day through the real
flows' steps on a simulated clock, with bots answering tasks through the same service calls
people use. Above `flows` in the layers; only `api` imports it."""
