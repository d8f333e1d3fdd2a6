//! Which exit status (SPEC §5) each typed error that ends a command maps to, in one
//! place: every error type converts into a [`Failure`] carrying its [`ExitStatus`], so the
//! commands use `?` and never pick a code. A run's own outcome maps through
//! [`crate::report::Report::exit_status`]; where several statuses apply,
//! [`ExitStatus::worst`] decides.

use super::Failure;
use crate::auth::AuthError;
use crate::auth::google::GoogleAuthError;
use crate::auth::oauth::CallbackError;
use crate::config::ConfigError;
use crate::engine::EngineError;
use crate::report::ExitStatus;
use crate::schedule::WhenError;
use crate::sheet::google::SheetError;
use crate::sheet::parse::HeaderError;
use crate::state::StateError;
use crate::store::shopify::StoreError;

/// A problem a command finds itself, rather than one of the layers below.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    /// A flag, a missing setup step or a journal entry the user asked for: theirs to fix.
    #[error("{0}")]
    Usage(String),
    /// This machine could not do its part (a temporary directory, a local server).
    #[error("{0}")]
    Local(String),
}

impl From<&CommandError> for ExitStatus {
    fn from(e: &CommandError) -> ExitStatus {
        match e {
            CommandError::Usage(_) => ExitStatus::Config,
            CommandError::Local(_) => ExitStatus::RunFailed,
        }
    }
}

/// `EngineError::fatal` sorts the run's errors: config, scope, header and lock problems
/// are 2, the rest 1.
impl From<&EngineError> for ExitStatus {
    fn from(e: &EngineError) -> ExitStatus {
        e.fatal().into()
    }
}

/// Syntax, types, unknown keys, missing variables, invalid values: all 2.
impl From<&ConfigError> for ExitStatus {
    fn from(_: &ConfigError) -> ExitStatus {
        ExitStatus::Config
    }
}

/// `schedule`'s `CRON` / `--every` arguments: 2.
impl From<&WhenError> for ExitStatus {
    fn from(_: &WhenError) -> ExitStatus {
        ExitStatus::Config
    }
}

/// Obtaining or storing a Shopify token failed: the run could not complete (1).
impl From<&AuthError> for ExitStatus {
    fn from(_: &AuthError) -> ExitStatus {
        ExitStatus::RunFailed
    }
}

/// A refused or unreadable OAuth callback: start again (1).
impl From<&CallbackError> for ExitStatus {
    fn from(_: &CallbackError) -> ExitStatus {
        ExitStatus::RunFailed
    }
}

/// `auth google`: an unusable OAuth client file is the user's to fix (2); a consent that
/// did not complete is 1.
impl From<&GoogleAuthError> for ExitStatus {
    fn from(e: &GoogleAuthError) -> ExitStatus {
        match e {
            GoogleAuthError::ClientFile { .. } => ExitStatus::Config,
            _ => ExitStatus::RunFailed,
        }
    }
}

/// Printing a report as JSON failed: 1.
impl From<&serde_json::Error> for ExitStatus {
    fn from(_: &serde_json::Error) -> ExitStatus {
        ExitStatus::RunFailed
    }
}

/// Each error becomes a [`Failure`] with the status its `From<&E>` gives.
macro_rules! failure_from {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for Failure {
            fn from(e: $error) -> Failure {
                Failure {
                    status: ExitStatus::from(&e),
                    error: e.into(),
                }
            }
        }
    )*};
}

failure_from!(
    CommandError,
    EngineError,
    ConfigError,
    WhenError,
    AuthError,
    CallbackError,
    GoogleAuthError,
    serde_json::Error,
);

/// The layers a run is made of map as the run maps them (through [`EngineError`]), so a
/// command that calls one directly exits as `sync` would.
macro_rules! failure_via_engine {
    ($($error:ty),* $(,)?) => {$(
        impl From<$error> for Failure {
            fn from(e: $error) -> Failure {
                Failure::from(EngineError::from(e))
            }
        }
    )*};
}

failure_via_engine!(StoreError, SheetError, HeaderError, StateError);

/// A Shopify endpoint refused before any request: as the store's own error for it.
impl From<crate::auth::endpoint::EndpointError> for Failure {
    fn from(e: crate::auth::endpoint::EndpointError) -> Failure {
        Failure::from(StoreError::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Fatal;

    #[test]
    fn command_errors_map_usage_to_2_and_local_to_1() {
        let f = Failure::from(CommandError::Usage("--only: unknown field".into()));
        assert_eq!(
            (f.status, f.error.to_string().as_str()),
            (ExitStatus::Config, "--only: unknown field")
        );
        let f = Failure::from(CommandError::Local("cannot start the sandbox".into()));
        assert_eq!(f.status, ExitStatus::RunFailed);
    }

    #[test]
    fn engine_errors_map_through_fatal() {
        let cases = [
            (EngineError::Config("x".into()), ExitStatus::Config),
            (
                EngineError::MissingScopes(vec!["read_products".into()]),
                ExitStatus::Config,
            ),
            (EngineError::Locations("x".into()), ExitStatus::Config),
            (
                EngineError::State(StateError::Locked {
                    holder: "sheetsync sync (pid 1)".into(),
                    lock_path: "x.lock".into(),
                }),
                ExitStatus::Config,
            ),
            (
                EngineError::Store(StoreError::InvalidShop("x".into())),
                ExitStatus::Config,
            ),
            (
                EngineError::Store(StoreError::Unauthorized),
                ExitStatus::RunFailed,
            ),
        ];
        for (e, want) in cases {
            let fatal = e.fatal();
            assert_eq!(ExitStatus::from(fatal), want, "{e}");
            let f = Failure::from(e);
            assert_eq!(f.status, want, "{}", f.error);
        }
        assert_eq!(ExitStatus::from(Fatal::Config), ExitStatus::Config);
        assert_eq!(ExitStatus::from(Fatal::Run), ExitStatus::RunFailed);
    }

    #[test]
    fn layer_errors_map_as_the_run_maps_them() {
        // A lock held by another writer is 2 whether `sync` or `runs` meets it.
        let locked = || StateError::Locked {
            holder: "x".into(),
            lock_path: "x.lock".into(),
        };
        assert_eq!(Failure::from(locked()).status, ExitStatus::Config);
        assert_eq!(
            Failure::from(StoreError::InvalidShop("x".into())).status,
            ExitStatus::Config
        );
        assert_eq!(
            Failure::from(StoreError::Unauthorized).status,
            ExitStatus::RunFailed
        );
    }

    #[test]
    fn auth_errors_map_to_1_except_an_unusable_client_file() {
        let client_file = GoogleAuthError::ClientFile {
            path: "c.json".into(),
            message: "x".into(),
        };
        assert_eq!(Failure::from(client_file).status, ExitStatus::Config);
        assert_eq!(
            Failure::from(GoogleAuthError::Consent("x".into())).status,
            ExitStatus::RunFailed
        );
        assert_eq!(
            Failure::from(CallbackError::State).status,
            ExitStatus::RunFailed
        );
        assert_eq!(
            Failure::from(AuthError::InvalidGrant).status,
            ExitStatus::RunFailed
        );
    }

    #[test]
    fn config_and_schedule_errors_map_to_2() {
        let e = ConfigError::Invalid {
            path: "x.toml".into(),
            message: "x".into(),
        };
        assert_eq!(Failure::from(e).status, ExitStatus::Config);
        let when = crate::schedule::When::parse(None, None).unwrap_err();
        assert_eq!(Failure::from(when).status, ExitStatus::Config);
    }
}
