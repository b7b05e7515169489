import { routeEvent } from '../routing';

describe('routeEvent', () => {
  it('sends job events to jobs and sweep events to sweeps', () => {
    expect(
      routeEvent({
        id: '3:0',
        event: 'job',
        data: '{"seq": 3, "job_id": "a-1", "state": "Running", "time": "T"}'
      })
    ).toEqual({
      kind: 'job',
      event: {
        seq: 3,
        job_id: 'a-1',
        state: 'Running',
        reason: '',
        message: '',
        time: 'T'
      }
    });
    const routed = routeEvent({
      id: '3:7',
      event: 'sweep',
      data: JSON.stringify({
        seq: 7,
        sweep_id: 's-1',
        state: 'Running',
        time: 'T',
        counts: { Pending: 1 },
        best: null,
        trial: { number: 0, state: 'Pending', parameters: { lr: 0.1 } }
      })
    });
    expect(routed?.kind).toBe('sweep');
    expect(routed?.kind === 'sweep' && routed.event.trial?.number).toBe(0);
    expect(routed?.kind === 'sweep' && routed.event.counts).toEqual({
      Pending: 1
    });
  });

  it('ignores other kinds and malformed bodies', () => {
    expect(routeEvent({ id: null, event: 'message', data: '{}' })).toBeNull();
    expect(
      routeEvent({ id: '1', event: 'sweep', data: 'not json' })
    ).toBeNull();
    expect(
      routeEvent({ id: '1', event: 'sweep', data: '{"seq": 1}' })
    ).toBeNull();
    expect(
      routeEvent({ id: '1', event: 'job', data: '{"job_id": 1}' })
    ).toBeNull();
  });
});
