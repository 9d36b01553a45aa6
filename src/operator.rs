//! `catalog admin …`: what an operator with shell access and
//! `DATABASE_URL` can do when no admin can log in. Each command applies
//! the API's rules (the password policy, the last-admin guard), records
//! an audit event by `cli:<operating-system user>`, and fails with one
//! line and a non-zero exit.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};

use crate::config::ProcessEnv;
use crate::domain::accounts::Role;
use crate::domain::admin::{Administration, UserChange};
use crate::domain::audit::Actor;
use crate::domain::catalog::Expected;
use crate::domain::clock::Clock;
use crate::domain::passwords::Passwords;
use crate::domain::values::NewPassword;
use crate::domain::{self, Error};
use crate::{connect_and_migrate, telemetry};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// List the accounts with the admin role, active or disabled.
    List,
    /// Set an account's password and end its sessions. The password is
    /// read from standard input (a prompt on a terminal), never from the
    /// command line.
    SetPassword {
        username: String,
        /// Refused: a password here would show in the process list and
        /// the shell's history.
        #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// Give an account the admin role.
    Promote { username: String },
    /// Disable an account and end its sessions (not the last active admin).
    Disable { username: String },
    /// Let a disabled account log in again.
    Enable { username: String },
}

/// Runs an admin command; a failure is one line on standard error.
pub async fn run(env: &ProcessEnv, command: AdminCommand) -> ExitCode {
    match execute(env, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("error: {line}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(env: &ProcessEnv, command: AdminCommand) -> Result<(), String> {
    // Standard output is the command's own answer.
    telemetry::init_for_command(env.log_format().map_err(|e| e.to_string())?);
    // Read before connecting, so a refused password costs no connection.
    let password = match &command {
        AdminCommand::SetPassword { rest, .. } if !rest.is_empty() => {
            return Err(
                "the password is read from standard input or a prompt, never from the \
                 command line; run `catalog admin set-password USERNAME` and type it"
                    .into(),
            );
        }
        AdminCommand::SetPassword { .. } => Some(read_password()?),
        _ => None,
    };
    let database = env.database().map_err(|e| e.to_string())?;
    let db = connect_and_migrate(&database)
        .await
        .map_err(|e| telemetry::error_chain(&e))?;
    let passwords = Passwords::new().map_err(|e| message(&e, ""))?;
    let admin = Administration::new(db, passwords, Clock::system());
    let actor = Actor::cli(&os_user());
    match command {
        AdminCommand::List => {
            let admins = admin.admins().await.map_err(|e| message(&e, ""))?;
            println!("{:>8}  {:<24}  {:<40}  status", "id", "username", "email");
            for user in admins {
                let status = if user.disabled { "disabled" } else { "active" };
                println!(
                    "{:>8}  {:<24}  {:<40}  {status}",
                    user.id, user.username, user.email
                );
            }
            Ok(())
        }
        AdminCommand::SetPassword { username, .. } => {
            let password = password.expect("read above");
            admin
                .set_password(&actor, &username, password)
                .await
                .map_err(|e| message(&e, &username))?;
            println!("password set for {username}; their sessions have ended");
            Ok(())
        }
        AdminCommand::Promote { username } => {
            let change = UserChange {
                role: Some(Role::Admin),
                disabled: None,
            };
            change_user(&admin, &actor, &username, change).await?;
            println!("{username} is an admin");
            Ok(())
        }
        AdminCommand::Disable { username } => {
            let change = UserChange {
                role: None,
                disabled: Some(true),
            };
            change_user(&admin, &actor, &username, change).await?;
            println!("{username} is disabled; their sessions have ended");
            Ok(())
        }
        AdminCommand::Enable { username } => {
            let change = UserChange {
                role: None,
                disabled: Some(false),
            };
            change_user(&admin, &actor, &username, change).await?;
            println!("{username} is enabled");
            Ok(())
        }
    }
}

async fn change_user(
    admin: &Administration,
    actor: &Actor,
    username: &str,
    change: UserChange,
) -> Result<(), String> {
    let id = admin
        .id_of(username)
        .await
        .map_err(|e| message(&e, username))?;
    admin
        .update_user(actor, id, &Expected::default(), change)
        .await
        .map_err(|e| message(&e, username))?;
    Ok(())
}

/// The new password: typed twice at a prompt on a terminal, or else the
/// first line of standard input. Checked against the same policy as
/// signups.
fn read_password() -> Result<NewPassword, String> {
    let text = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the two passwords differ; nothing changed".into());
        }
        SecretString::from(first)
    } else {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .map_err(|e| format!("could not read the password from standard input: {e}"))?;
        let line = input.lines().next().unwrap_or("").to_owned();
        SecretString::from(line)
    };
    NewPassword::parse(text.expose_secret().to_owned())
        .map_err(|reason| format!("the new password {reason}; nothing changed"))
}

/// Who runs the command, for the audit trail: `USER` or `LOGNAME`, or
/// else the name `/etc/passwd` gives the process's user (a container
/// sets neither variable).
fn os_user() -> String {
    if let Some(name) = ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
    {
        return name;
    }
    #[cfg(target_os = "linux")]
    {
        let uid = rustix::process::getuid().as_raw().to_string();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let named = passwd.lines().find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            (fields.nth(1)? == uid).then(|| name.to_owned())
        });
        named.unwrap_or_else(|| format!("uid-{uid}"))
    }
    #[cfg(not(target_os = "linux"))]
    String::new()
}

/// One line for a failure.
fn message(err: &domain::Error, username: &str) -> String {
    match err {
        Error::NotFound => format!("no account is named {username:?}"),
        Error::LastAdmin => format!("{username} is the last active admin: {err}"),
        Error::Unavailable(_) | Error::Internal(_) => telemetry::error_chain(err),
        other => other.to_string(),
    }
}
