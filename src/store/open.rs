//! Choosing the store: a `postgres://` or `postgresql://` URL opens [`PgStore`], anything else
//! is a SQLite file. The one place the service's store is opened (CLI commands, serve, watch).

use std::{path::Path, sync::Arc};

use secrecy::{ExposeSecret, SecretString};

use super::{PgStore, SqliteStore, Store, StoreError};

/// Where the store lives. The URL may carry a password, so it is kept secret and shown
/// redacted.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    Sqlite(std::path::PathBuf),
    Postgres(SecretString),
}

impl StoreLocation {
    /// `--db` / `INCIDENT_MCP_DB` / `[storage] db`: a PostgreSQL URL or a SQLite path.
    pub fn parse(raw: &Path) -> Self {
        match raw.to_str() {
            Some(s) if is_postgres_url(s) => StoreLocation::Postgres(SecretString::from(s.to_owned())),
            _ => StoreLocation::Sqlite(raw.to_path_buf()),
        }
    }
}

fn is_postgres_url(s: &str) -> bool {
    let lower = s.get(..13).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// Opens the store (running its migrations).
pub async fn open(location: &StoreLocation) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match location {
        StoreLocation::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        StoreLocation::Postgres(url) => Arc::new(PgStore::connect(url.expose_secret()).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_postgres_and_paths_sqlite() {
        for url in ["postgres://u:p@h/db", "postgresql://h/db", "POSTGRES://h/db"] {
            assert!(
                matches!(StoreLocation::parse(Path::new(url)), StoreLocation::Postgres(_)),
                "{url}"
            );
        }
        for path in ["incidents.db", "/var/lib/x.db", "postgres.db", "./postgres://x"] {
            assert!(
                matches!(StoreLocation::parse(Path::new(path)), StoreLocation::Sqlite(_)),
                "{path}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_url() {
        let loc = StoreLocation::parse(Path::new("postgres://u:hunter2@h/db"));
        assert!(!format!("{loc:?}").contains("hunter2"));
    }
}
