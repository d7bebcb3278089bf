import { describe, expect, it } from 'vitest';
import { ApiError, fieldErrors, formErrors } from './errors';

const validation = (details: unknown[]) =>
  ApiError.fromBody(422, { error: { code: 'validation_failed', message: 'name: bad', details } });

describe('422 details to form fields', () => {
  it('groups messages by field', () => {
    const e = validation([
      { field: 'name', message: 'is not a valid domain name' },
      { field: 'name', message: 'is too long' },
      { field: 'mx[2]', message: 'bad pattern' },
    ]);
    expect(fieldErrors(e)).toEqual({ name: ['is not a valid domain name', 'is too long'], 'mx[2]': ['bad pattern'] });
  });

  it('puts known fields next to the field and the rest on the form', () => {
    const e = validation([
      { field: 'name', message: 'is empty' },
      { field: 'ownership', message: 'must be cname or txt' },
    ]);
    expect(formErrors(e, ['name'])).toEqual({ fields: { name: ['is empty'] }, form: 'ownership: must be cname or txt' });
  });

  it('ignores details that are not field errors (readiness checks)', () => {
    const e = validation([{ name: 'mx_coverage', result: 'fail', explanation: 'x' }]);
    expect(fieldErrors(e)).toEqual({});
    expect(formErrors(e, ['name'])).toEqual({ fields: {}, form: 'name: bad' });
  });

  it('shows a conflict next to the field it concerns', () => {
    const e = ApiError.fromBody(409, { error: { code: 'domain_exists', message: 'already registered', details: [] } });
    expect(formErrors(e, ['name'], 'name')).toEqual({ fields: { name: ['already registered'] }, form: null });
    expect(formErrors(e, ['name'])).toEqual({ fields: {}, form: 'already registered' });
  });

  it('other errors become a form message', () => {
    const e = ApiError.fromBody(403, { error: { code: 'quota_exceeded', message: 'quota used up', details: [] } });
    expect(formErrors(e, ['name'], 'name')).toEqual({ fields: {}, form: 'quota used up' });
    expect(fieldErrors(new Error('x'))).toEqual({});
    expect(formErrors(null, ['name'])).toEqual({ fields: {}, form: null });
  });
});
