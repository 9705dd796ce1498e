//! What `vestis batch` is made of, beside the command itself
//! (`commands::batch`): reading and checking the input ([`input`]), the
//! manifest of finished rows ([`manifest`]), and output names ([`names`]).
//! The batch's progress log lives with the job journal (`journal::batch`).

pub(crate) mod input;
pub(crate) mod manifest;
pub(crate) mod names;
