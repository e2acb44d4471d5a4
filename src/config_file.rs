//! The configuration file (`--config FILE`, `BERTH_CONFIG`): a TOML table of the
//! commands' settings, each under its flag's name in snake_case (`--gc-interval` is
//! `gc_interval`); each command takes those it has. Flags win over the environment,
//! which wins over the file, which wins over the defaults.
//!
//! The file adds to the command line: each setting it gives that neither the command
//! line nor the environment gave (clap's `ArgMatches::value_source`) becomes a
//! `--flag=value` argument, and the command line is parsed again, so a file's value
//! goes through the flag's own parser and checks. Any flag a command gains can be
//! written in the file without a change here.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};

/// The option that names the file.
const CONFIG: &str = "config";

/// What makes a configuration file unusable; each names the file and the setting.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    // The causes are in the messages, not `source`s, so a chain printed whole
    // says them once.
    #[error("cannot read the configuration file {path}: {cause}")]
    Unreadable {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("the configuration file {path} is not valid TOML: {cause}")]
    Syntax {
        path: PathBuf,
        cause: toml::de::Error,
    },
    #[error(
        "the configuration file {path} has an unknown setting `{key}`; settings are the \
         flags' names in snake_case: {known}"
    )]
    UnknownKey {
        path: PathBuf,
        key: String,
        known: String,
    },
    #[error("the configuration file {path} sets `{key}` to {found}; it must be {expected}")]
    WrongType {
        path: PathBuf,
        key: String,
        expected: &'static str,
        found: String,
    },
    #[error("the configuration file {path} sets `{key}` to {value:?}: {reason}")]
    InvalidValue {
        path: PathBuf,
        key: String,
        value: String,
        reason: String,
    },
}

/// What a setting's value is written as in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A switch (`--dry-run`): a boolean.
    Switch,
    /// A number: an integer.
    Integer,
    /// Anything else (addresses, paths, durations, URLs): a string.
    Text,
}

impl Kind {
    fn of(arg: &Arg) -> Self {
        use std::any::TypeId;
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            return Kind::Switch;
        }
        let parsed = arg.get_value_parser().type_id();
        let integers = [
            TypeId::of::<u64>(),
            TypeId::of::<u32>(),
            TypeId::of::<usize>(),
            TypeId::of::<u16>(),
        ];
        if integers.iter().any(|t| parsed == *t) {
            Kind::Integer
        } else {
            Kind::Text
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Switch => "a boolean (true or false)",
            Kind::Integer => "an integer",
            Kind::Text => "a string",
        }
    }
}

/// A setting's key in the file: its flag's name in snake_case.
fn key(arg: &Arg) -> Option<String> {
    arg.get_long()
        .filter(|long| *long != CONFIG)
        .map(|long| long.replace('-', "_"))
}

/// The settings of `cmd` that a file may give: every flag with a name but `--config`.
fn settings(cmd: &Command) -> impl Iterator<Item = (String, &Arg)> {
    cmd.get_arguments()
        .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::Version))
        .filter_map(|a| key(a).map(|k| (k, a)))
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    CommandLine,
    Environment,
    File,
    Default,
}

/// One setting of the effective configuration.
#[derive(Debug, Clone)]
pub struct Setting {
    pub key: String,
    /// The value as given (a secret's as `(redacted)`); `None` when unset.
    pub value: Option<String>,
    pub origin: Option<Origin>,
    kind: Kind,
}

/// A command's effective settings and where each came from.
#[derive(Debug, Clone, Default)]
pub struct Effective {
    pub file: Option<PathBuf>,
    pub settings: Vec<Setting>,
}

impl Effective {
    /// The settings as a TOML file (usable as a configuration file), each with its
    /// origin; unset ones as comments.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        if let Some(file) = &self.file {
            out.push_str(&format!("# configuration file: {}\n", file.display()));
        }
        for s in &self.settings {
            let origin = match s.origin {
                Some(Origin::CommandLine) => "command line",
                Some(Origin::Environment) => "environment",
                Some(Origin::File) => "configuration file",
                Some(Origin::Default) | None => "default",
            };
            match &s.value {
                None => out.push_str(&format!("# {} is not set\n", s.key)),
                Some(v) => {
                    let value = match s.kind {
                        Kind::Integer | Kind::Switch => v.clone(),
                        Kind::Text => toml::Value::String(v.clone()).to_string(),
                    };
                    out.push_str(&format!("{} = {value}  # {origin}\n", s.key));
                }
            }
        }
        out
    }
}

/// Hides what a value must not show: a secret whole, a URL's password.
fn redact(arg: &Arg, value: &str) -> String {
    const REDACTED: &str = "(redacted)";
    if arg.is_hide_env_values_set() {
        return REDACTED.to_owned();
    }
    match reqwest::Url::parse(value) {
        Ok(mut url) if url.password().is_some() => {
            // A URL with a host (all that can carry a password) takes a new one.
            let _ = url.set_password(Some(REDACTED));
            url.to_string()
        }
        _ => value.to_owned(),
    }
}

/// Parses `args` as `P`, with the settings of the configuration file its command
/// names (`--config` of the subcommand that has one) added where neither the command
/// line nor the environment gave them. Errors in the command line itself exit as
/// clap's do; the file's are returned, naming the setting.
pub fn parse<P: CommandFactory + FromArgMatches>(
    mut args: Vec<OsString>,
) -> Result<(P, Effective), FileError> {
    let matches = P::command().get_matches_from(args.clone());
    let (cmd, leaf) = subcommand(P::command(), &matches);
    // Only the commands that take a file have `--config`.
    let file = leaf.try_get_one::<PathBuf>(CONFIG).ok().flatten().cloned();
    let mut from_file = BTreeSet::new();
    if let Some(path) = &file {
        let added = arguments(path, &cmd, leaf, &file_keys(&P::command()))?;
        from_file = added.iter().map(|(k, _)| k.clone()).collect();
        args.extend(added.into_iter().map(|(_, a)| a));
    }
    let matches = match P::command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => match (&file, blamed(&e, &cmd, &from_file)) {
            (Some(path), Some((key, value))) => {
                return Err(FileError::InvalidValue {
                    path: path.clone(),
                    key,
                    value,
                    reason: reason(&e),
                })
            }
            _ => e.exit(),
        },
    };
    let parsed = P::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let (cmd, leaf) = subcommand(P::command(), &matches);
    let settings = settings(&cmd)
        .map(|(key, arg)| {
            let id = arg.get_id().as_str();
            let value = leaf
                .get_raw(id)
                .and_then(|mut v| v.next())
                .map(|v| redact(arg, &v.to_string_lossy()));
            let origin = match leaf.value_source(id) {
                _ if from_file.contains(&key) => Some(Origin::File),
                Some(ValueSource::CommandLine) => Some(Origin::CommandLine),
                Some(ValueSource::EnvVariable) => Some(Origin::Environment),
                Some(_) => Some(Origin::Default),
                None => None,
            };
            Setting {
                key,
                value,
                origin,
                kind: Kind::of(arg),
            }
        })
        .collect();
    Ok((parsed, Effective { file, settings }))
}

/// The innermost subcommand `matches` chose, with its matches.
fn subcommand(mut cmd: Command, matches: &ArgMatches) -> (Command, &ArgMatches) {
    let mut at = matches;
    while let Some((name, sub)) = at.subcommand() {
        match cmd.find_subcommand(name) {
            Some(c) => cmd = c.clone(),
            None => break,
        }
        at = sub;
    }
    (cmd, at)
}

/// Every setting a file may give: those of every command that takes `--config`. One
/// file serves them all (`berth serve` and `berth gc` read the same `data_dir`), so a
/// command passes over the others' settings.
fn file_keys(cmd: &Command) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    if cmd.get_arguments().any(|a| a.get_id() == CONFIG) {
        keys.extend(settings(cmd).map(|(k, _)| k));
    }
    for sub in cmd.get_subcommands() {
        keys.extend(file_keys(sub));
    }
    keys
}

/// The arguments the file at `path` adds to `cmd`'s command line, with their keys:
/// each setting of `cmd` it gives that the command line and the environment did not.
/// A key that is no command's setting (`known` lists those) is refused.
fn arguments(
    path: &Path,
    cmd: &Command,
    matches: &ArgMatches,
    known: &BTreeSet<String>,
) -> Result<Vec<(String, OsString)>, FileError> {
    let text = std::fs::read_to_string(path).map_err(|cause| FileError::Unreadable {
        path: path.to_owned(),
        cause,
    })?;
    let table: toml::Table = text.parse().map_err(|cause| FileError::Syntax {
        path: path.to_owned(),
        cause,
    })?;
    let mut added = Vec::new();
    for (key, value) in table {
        let Some(arg) = settings(cmd).find(|(k, _)| *k == key).map(|(_, a)| a) else {
            if known.contains(&key) {
                continue;
            }
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            return Err(FileError::UnknownKey {
                path: path.to_owned(),
                key,
                known: known.join(", "),
            });
        };
        let given = matches.value_source(arg.get_id().as_str());
        if matches!(
            given,
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let flag = arg.get_long().unwrap_or_default();
        let argument = match (Kind::of(arg), &value) {
            (Kind::Switch, toml::Value::Boolean(false)) => continue,
            (Kind::Switch, toml::Value::Boolean(true)) => format!("--{flag}"),
            (Kind::Integer, toml::Value::Integer(n)) => format!("--{flag}={n}"),
            (Kind::Text, toml::Value::String(s)) => format!("--{flag}={s}"),
            (kind, other) => {
                return Err(FileError::WrongType {
                    path: path.to_owned(),
                    key,
                    expected: kind.expected(),
                    found: format!("{} {other}", other.type_str()),
                })
            }
        };
        added.push((key, OsString::from(argument)));
    }
    Ok(added)
}

/// The setting of the file, and its value, that a parse error is about, if any.
fn blamed(
    e: &clap::Error,
    cmd: &Command,
    from_file: &BTreeSet<String>,
) -> Option<(String, String)> {
    if !matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(v)) => v.clone(),
        _ => String::new(),
    };
    // clap names the argument as `--flag <VALUE>`.
    let flag = arg.split_whitespace().next()?.strip_prefix("--")?;
    settings(cmd)
        .find(|(key, a)| a.get_long() == Some(flag) && from_file.contains(key))
        .map(|(key, _)| (key, value))
}

/// Why a value was refused, without clap's framing.
fn reason(e: &clap::Error) -> String {
    match std::error::Error::source(e) {
        Some(source) => source.to_string(),
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve() -> Command {
        <crate::config::Config as clap::Args>::augment_args(Command::new("berth"))
    }

    #[test]
    fn every_setting_is_keyed_by_its_flag_in_snake_case() {
        let cmd = serve();
        let keys: Vec<String> = settings(&cmd).map(|(k, _)| k).collect();
        assert_eq!(keys.len(), cmd.get_arguments().count());
        for (key, arg) in settings(&cmd) {
            assert_eq!(key, arg.get_id().as_str());
        }
    }

    #[test]
    fn numbers_are_integers_and_the_rest_strings() {
        let cmd = serve();
        let kind = |key: &str| {
            let (_, arg) = settings(&cmd).find(|(k, _)| k == key).expect(key);
            Kind::of(arg)
        };
        for key in [
            "workers",
            "database_timeout",
            "max_connections",
            "body_timeout",
        ] {
            assert_eq!(kind(key), Kind::Integer, "{key}");
        }
        for key in ["listen", "data_dir", "gc_interval", "account_id", "region"] {
            assert_eq!(kind(key), Kind::Text, "{key}");
        }
    }
}
