//! Reference embedding lookup: every id of `[...]` gathers its row of the `[vocab, dim]` table into
//! `[..., dim]`.

use ndarray::{ArrayD, Axis, IxDyn};

pub fn embedding(ids: &ArrayD<u32>, table: &ArrayD<f32>) -> Result<ArrayD<f32>, String> {
    let (vocab, dim) = (table.shape()[0], table.shape()[1]);
    let mut values = Vec::with_capacity(ids.len() * dim);
    for &id in ids.iter() {
        if id as usize >= vocab {
            return Err(format!("id {id} is outside the vocabulary of {vocab}"));
        }
        values.extend(table.index_axis(Axis(0), id as usize).iter());
    }
    let mut shape = ids.shape().to_vec();
    shape.push(dim);
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), values).expect("one row per id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_gather_rows_in_order() {
        let table = ArrayD::from_shape_vec(IxDyn(&[3, 2]), vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5]).unwrap();
        let ids = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![2, 0, 1, 2]).unwrap();
        let y = embedding(&ids, &table).unwrap();
        assert_eq!(y.shape(), &[2, 2, 2]);
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![2.0, 2.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
        let bad = ArrayD::from_shape_vec(IxDyn(&[1]), vec![3]).unwrap();
        assert!(embedding(&bad, &table).is_err());
    }
}
