import { describe, expect, it } from 'vitest';
import { hostsProblem, inputFromUnix, moveAtFromInput, moveAtProblem, parseHosts, stepStatus } from './mxMoveLogic';

describe('planning a move', () => {
  it('reads hosts from lines, commas and spaces, canonical and once each', () => {
    expect(parseHosts(' MX1.New.example.\n*.mail.new.example, mx1.new.example  ')).toEqual(['mx1.new.example', '*.mail.new.example']);
    expect(parseHosts('  \n ')).toEqual([]);
  });

  it('names the first bad host, or that none was given', () => {
    expect(hostsProblem([])).toEqual({ host: '', problem: 'none' });
    expect(hostsProblem(['mx.new.example', '*.*.new.example'])).toEqual({ host: '*.*.new.example', problem: 'wildcard' });
    expect(hostsProblem(['mx.new.example'])).toBeNull();
    expect(hostsProblem(Array.from({ length: 65 }, (_, i) => `mx${i}.new.example`))?.problem).toBe('tooMany');
  });

  it('round-trips a local date and time, and bounds it like the API', () => {
    const unix = moveAtFromInput('2027-03-01T09:30');
    expect(unix).toBe(Math.floor(new Date('2027-03-01T09:30').getTime() / 1000));
    expect(inputFromUnix(unix ?? 0)).toBe('2027-03-01T09:30');
    expect(moveAtFromInput('')).toBeNull();
    expect(moveAtFromInput('tomorrow')).toBeNull();
    const now = 1_800_000_000;
    expect(moveAtProblem(null, now)).toBe('required');
    expect(moveAtProblem(now + 600, now)).toBe('tooSoon');
    expect(moveAtProblem(now + 3_600, now)).toBeNull();
    expect(moveAtProblem(now + 401 * 86_400, now)).toBe('tooLate');
  });

  it('shows each step as done, due, planned, waiting or not run', () => {
    const active = { state: 'active' };
    expect(stepStatus({ step: 'cover', done: true, due_at: 0 }, active, 10)).toBe('done');
    expect(stepStatus({ step: 'shorten', done: false, due_at: 5 }, active, 10)).toBe('due');
    expect(stepStatus({ step: 'shorten', done: false, due_at: 50 }, active, 10)).toBe('later');
    expect(stepStatus({ step: 'finish', done: false, due_at: 5 }, { state: 'active', waiting: 'mx' }, 10)).toBe('waiting');
    expect(stepStatus({ step: 'finish', done: false, due_at: 5 }, { state: 'cancelled' }, 10)).toBe('skipped');
  });
});
