//! Issue 14, items 1, 3 and 4: entities and the correlation graph by depth, similar past
//! incidents, suggested actions. Real parts: detection from a JSON-lines log source and
//! Alertmanager intake through the service, a real SQLite file and a real PostgreSQL server,
//! the MCP tools over duplex.

pub mod fixture;
mod graph;
mod hostile;
mod similar;
mod suggest;
mod upgrade;
