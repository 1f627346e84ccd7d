use crate::value::Value;
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct PickleError;
#[derive(Default)]
pub struct Limits;
pub fn loads(_: &[u8], _: &Limits) -> Result<Value, PickleError> {
    Err(PickleError)
}
pub fn dumps(_: &Value, _: u8) -> Result<Vec<u8>, PickleError> {
    Err(PickleError)
}
pub fn protocol(_: &[u8]) -> Option<u8> {
    None
}
