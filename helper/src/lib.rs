pub mod plugin;
pub mod tty;
